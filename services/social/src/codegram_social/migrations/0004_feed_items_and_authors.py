"""the feed's items from social's own read model: list fields of content, and the authors read model

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The new content columns start empty: an item's list fields are read through its content service the
first time a feed shows it (and again after each change), then kept. The authors table starts empty
too: rows come from the users service's events from now on, and the authors of pages read before an
event are read through the users service once and kept (codegram_content.authors).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codegram_content.migration_steps import authors_steps

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "social"
_LIST_FIELDS = (
    ("description", sa.Text),
    ("tags", sa.ARRAY(sa.Text)),
    ("language", sa.Text),
    ("code_preview", sa.Text),
    ("slug", sa.Text),
    ("listed_at", sa.DateTime(timezone=True)),
)
_authors_upgrade, _authors_downgrade = authors_steps(SCHEMA)


def upgrade() -> None:
    for name, type_ in _LIST_FIELDS:
        op.add_column("content", sa.Column(name, type_, nullable=True), schema=SCHEMA)
    _authors_upgrade()


def downgrade() -> None:
    _authors_downgrade()
    for name, _ in reversed(_LIST_FIELDS):
        op.drop_column("content", name, schema=SCHEMA)
