"""accounts, sync jobs, repositories and the ETags of conditional requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "github"


def _timestamp(name: str, nullable: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("user_id", sa.Uuid, nullable=False),
        _timestamp("first_signed_in_at"),
        _timestamp("last_signed_in_at"),
        sa.PrimaryKeyConstraint("user_id", name="pk_accounts"),
        schema=SCHEMA,
    )
    op.create_index("ix_accounts_last_signed_in_at", "accounts", ["last_signed_in_at"], schema=SCHEMA)
    op.create_table(
        "sync_jobs",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("schedule_key", sa.Text, nullable=True),
        _timestamp("created_at", server_default=sa.func.now()),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_jobs"),
        sa.UniqueConstraint("schedule_key", name="uq_sync_jobs_schedule_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_sync_jobs_active",
        "sync_jobs",
        ["user_id", "kind"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
        schema=SCHEMA,
    )
    op.create_table(
        "repositories",
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("github_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("language", sa.Text, nullable=True),
        sa.Column("stars", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("forks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("html_url", sa.Text, nullable=False),
        _timestamp("pushed_at", nullable=True),
        sa.Column("languages", JSONB, nullable=False, server_default="{}"),
        _timestamp("synced_at"),
        sa.PrimaryKeyConstraint("user_id", "github_id", name="pk_repositories"),
        schema=SCHEMA,
    )
    op.create_index("ix_repositories_stars", "repositories", ["user_id", "stars", "github_id"], schema=SCHEMA)
    op.create_index(
        "ix_repositories_pushed", "repositories", ["user_id", "pushed_at", "github_id"], schema=SCHEMA
    )
    op.create_table(
        "etags",
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("link", sa.Text, nullable=True),
        _timestamp("updated_at", server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "url", name="pk_etags"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("etags", "repositories", "sync_jobs", "accounts"):
        op.drop_table(table, schema=SCHEMA)
