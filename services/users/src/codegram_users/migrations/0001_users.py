"""users table, outbox and processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codegram_kit.db.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "users"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False, server_default=""),
        sa.Column("avatar_url", sa.Text, nullable=False, server_default=""),
        sa.Column("bio", sa.Text, nullable=False, server_default=""),
        sa.Column("location", sa.Text, nullable=False, server_default=""),
        sa.Column("website", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("github_id", sa.BigInteger, nullable=True),
        sa.Column("github_login", sa.Text, nullable=True),
        sa.Column("github_followers", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("github_following", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("github_public_repos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("github_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("followers_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("following_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("snippets_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("docs_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("github_id", name="uq_users_github_id"),
        schema=SCHEMA,
    )
    op.execute(f'CREATE UNIQUE INDEX uq_users_username_lower ON {SCHEMA}.users (lower(username) COLLATE "C")')
    op.execute(f'CREATE INDEX ix_users_full_name_lower ON {SCHEMA}.users (lower(full_name) COLLATE "C")')
    create_messaging_tables(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables(SCHEMA)
    op.drop_table("users", schema=SCHEMA)
