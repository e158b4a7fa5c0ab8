"""snippets: search vectors built again, digits kept with their letters (`utf8`, `x86`, `sha256`)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

See codegram_content.migration_steps.keep_digits_steps for what it rebuilds and why.
"""

from collections.abc import Sequence

from codegram_content.migration_steps import keep_digits_steps

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

upgrade, downgrade = keep_digits_steps("snippets", "snippets", body_field="code")
