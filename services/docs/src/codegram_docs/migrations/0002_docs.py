"""docs table with its slug, keyset, tag and full-text indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "docs"
PUBLIC = "WHERE visibility = 'public'"


def upgrade() -> None:
    op.create_table(
        "docs",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("author_id", sa.Uuid, nullable=False),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_html", sa.Text, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("visibility", sa.Text, nullable=False),
        sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("search", TSVECTOR, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_docs"),
        sa.UniqueConstraint("author_id", "slug", name="uq_docs_author_id"),
        sa.CheckConstraint("visibility IN ('public', 'unlisted', 'private')", name="ck_docs_visibility"),
        schema=SCHEMA,
    )
    t = f"{SCHEMA}.docs"
    op.execute(f"CREATE INDEX ix_docs_public_recent ON {t} (created_at DESC, id DESC) {PUBLIC}")
    op.execute(f"CREATE INDEX ix_docs_public_popular ON {t} (likes_count DESC, id DESC) {PUBLIC}")
    op.execute(f"CREATE INDEX ix_docs_public_tags ON {t} USING gin (tags) {PUBLIC}")
    op.execute(f"CREATE INDEX ix_docs_public_search ON {t} USING gin (search) {PUBLIC}")
    op.execute(f"CREATE INDEX ix_docs_author_recent ON {t} (author_id, created_at DESC, id DESC)")


def downgrade() -> None:
    op.drop_table("docs", schema=SCHEMA)
