"""Tables of the social schema."""

from __future__ import annotations

import sqlalchemy as sa

from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "social"
metadata = schema_metadata(SCHEMA)

# Who follows whom: one row per pair, so following twice changes nothing.
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("follower_id", sa.Uuid, primary_key=True),
    sa.Column("followee_id", sa.Uuid, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
# The keyset orders of the two lists: a user's followers, and whom a user follows, newest first.
sa.Index("ix_follows_followee_recent", follows.c.followee_id, follows.c.created_at, follows.c.follower_id)
sa.Index("ix_follows_follower_recent", follows.c.follower_id, follows.c.created_at, follows.c.followee_id)

outbox, processed_events = messaging_tables(metadata)
