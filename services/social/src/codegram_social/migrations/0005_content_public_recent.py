"""the newest public items of anyone, for the feed's read past a timeline's end

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "social"


def upgrade() -> None:
    # Built without blocking the read model's writes (it is as large as all public content):
    # CONCURRENTLY runs outside the migration's transaction.
    with op.get_context().autocommit_block():
        # A concurrent build that failed or was cancelled leaves an invalid index behind, which
        # IF NOT EXISTS would take for done: it is dropped and built again.
        invalid = (
            op.get_bind()
            .execute(
                sa.text(
                    "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :schema AND c.relname = :name"
                ),
                {"schema": SCHEMA, "name": "ix_content_public_recent"},
            )
            .scalar()
        )
        if invalid:
            op.execute(f"DROP INDEX CONCURRENTLY {SCHEMA}.ix_content_public_recent")
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_content_public_recent ON {SCHEMA}.content "
            "(created_at DESC, id DESC) INCLUDE (author_id, kind) WHERE visibility = 'public' AND NOT deleted"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SCHEMA}.ix_content_public_recent")
