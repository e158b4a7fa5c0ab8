"""follows table with the keyset indexes of the followers and following lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "social"


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("follower_id", sa.Uuid, nullable=False),
        sa.Column("followee_id", sa.Uuid, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name="pk_follows"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_follows_followee_recent", "follows", ["followee_id", "created_at", "follower_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_follows_follower_recent", "follows", ["follower_id", "created_at", "followee_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("follows", schema=SCHEMA)
