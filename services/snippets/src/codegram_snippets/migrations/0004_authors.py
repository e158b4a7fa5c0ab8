"""snippets: the authors read model, kept from the users service's events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

See codegram_content.authors for what it holds and which row wins.
"""

from collections.abc import Sequence

from codegram_content.migration_steps import authors_steps

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

upgrade, downgrade = authors_steps("snippets")
