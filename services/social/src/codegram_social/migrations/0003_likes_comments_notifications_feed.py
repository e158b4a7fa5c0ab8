"""content read model, likes, comments, notifications and home timelines

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "social"


def _created_at() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "content",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("author_id", sa.Uuid, nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("kind", "id", name="pk_content"),
        schema=SCHEMA,
    )
    op.execute(
        f"CREATE INDEX ix_content_author_public_recent ON {SCHEMA}.content "
        "(author_id, created_at DESC, id DESC) WHERE visibility = 'public' AND NOT deleted"
    )
    op.create_table(
        "likes",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("kind", "subject_id", "user_id", name="pk_likes"),
        schema=SCHEMA,
    )
    op.create_index("ix_likes_user", "likes", ["user_id", "kind", "subject_id"], schema=SCHEMA)
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.Uuid, nullable=False),
        sa.Column("author_id", sa.Uuid, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_comments_subject", "comments", ["kind", "subject_id", "created_at", "id"], schema=SCHEMA
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("actor_id", sa.Uuid, nullable=False),
        sa.Column("subject_kind", sa.String(8), nullable=True),
        sa.Column("subject_id", sa.Uuid, nullable=True),
        sa.Column("comment_id", sa.Uuid, nullable=True),
        sa.Column("dedupe_key", sa.Text, nullable=True),
        sa.Column("read", sa.Boolean, nullable=False, server_default=sa.false()),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("recipient_id", "dedupe_key", name="uq_notifications_dedupe"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_notifications_recent", "notifications", ["recipient_id", "created_at", "id"], schema=SCHEMA
    )
    op.execute(
        f"CREATE INDEX ix_notifications_unread ON {SCHEMA}.notifications (recipient_id, created_at, id) "
        "WHERE NOT read"
    )
    op.execute(
        f"CREATE INDEX ix_notifications_subject ON {SCHEMA}.notifications (subject_id) "
        "WHERE subject_id IS NOT NULL"
    )
    op.execute(
        f"CREATE INDEX ix_notifications_comment ON {SCHEMA}.notifications (comment_id) "
        "WHERE comment_id IS NOT NULL"
    )
    op.create_table(
        "timeline",
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("author_id", sa.Uuid, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "created_at", "item_id", name="pk_timeline"),
        schema=SCHEMA,
    )
    op.create_index("ix_timeline_item", "timeline", ["item_id"], schema=SCHEMA)
    op.create_index("ix_timeline_user_author", "timeline", ["user_id", "author_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("timeline", "notifications", "comments", "likes", "content"):
        op.drop_table(table, schema=SCHEMA)
