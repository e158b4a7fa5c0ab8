"""Tables of the social schema."""

from __future__ import annotations

import sqlalchemy as sa

from codegram_content.authors import authors_table
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

# What can be liked and commented on, as the content events tell it (the social service never asks
# the content services per request): one row per snippet or doc, kept after a delete as a tombstone
# so that a late or replayed event cannot bring it back. The counters are this service's own and
# move in the transaction of the like or comment (the row lock orders changes of one subject).
content = sa.Table(
    "content",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),  # "snippet" | "doc"
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("author_id", sa.Uuid, nullable=False),
    sa.Column("visibility", sa.String(10), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The source's updated_at: an event older than what is stored changes nothing.
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
    # What the feed shows of the item beyond the facts above, as the content service's list shows
    # it (its events do not carry the description nor the code preview): read through it once per
    # version and kept. `listed_at` is the source's updated_at of what these columns hold (NULL:
    # nothing yet); they are shown only while it is not older than `updated_at` (feed_api.py).
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("tags", sa.ARRAY(sa.Text), nullable=True),
    sa.Column("language", sa.Text, nullable=True),  # snippets
    sa.Column("code_preview", sa.Text, nullable=True),  # snippets
    sa.Column("slug", sa.Text, nullable=True),  # docs
    sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True),
)
# A followee's recent public items, for the feed's backfill on follow and its read-time fallback.
sa.Index(
    "ix_content_author_public_recent",
    content.c.author_id,
    content.c.created_at.desc(),
    content.c.id.desc(),
    postgresql_where=sa.and_(content.c.visibility == "public", sa.not_(content.c.deleted)),
)

# The newest public items of anyone, for the read past a timeline's end (feed.recent_entries): its
# author and kind are in the index, so the read needs no row.
sa.Index(
    "ix_content_public_recent",
    content.c.created_at.desc(),
    content.c.id.desc(),
    postgresql_include=["author_id", "kind"],
    postgresql_where=sa.and_(content.c.visibility == "public", sa.not_(content.c.deleted)),
)

# Who likes what: one row per (subject, user), so liking twice changes nothing.
likes = sa.Table(
    "likes",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("subject_id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
# `liked_by_me` for a page: one user's likes among a batch of subjects.
sa.Index("ix_likes_user", likes.c.user_id, likes.c.kind, likes.c.subject_id)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("subject_id", sa.Uuid, nullable=False),
    sa.Column("author_id", sa.Uuid, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
# A subject's comments, oldest first (keyset on created_at, id).
sa.Index("ix_comments_subject", comments.c.kind, comments.c.subject_id, comments.c.created_at, comments.c.id)

# A user's notifications. `dedupe_key` makes a repeated follow or like (after an unfollow or
# unlike) the same notification rather than a second one; comments have none (each is news).
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("recipient_id", sa.Uuid, nullable=False),
    sa.Column("type", sa.String(10), nullable=False),  # "follow" | "like" | "comment"
    sa.Column("actor_id", sa.Uuid, nullable=False),
    sa.Column("subject_kind", sa.String(8), nullable=True),
    sa.Column("subject_id", sa.Uuid, nullable=True),
    sa.Column("comment_id", sa.Uuid, nullable=True),
    sa.Column("dedupe_key", sa.Text, nullable=True),
    sa.Column("read", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("recipient_id", "dedupe_key", name="uq_notifications_dedupe"),
)
sa.Index(
    "ix_notifications_recent", notifications.c.recipient_id, notifications.c.created_at, notifications.c.id
)
sa.Index(
    "ix_notifications_unread",
    notifications.c.recipient_id,
    notifications.c.created_at,
    notifications.c.id,
    postgresql_where=sa.not_(notifications.c.read),
)
sa.Index(
    "ix_notifications_subject",
    notifications.c.subject_id,
    postgresql_where=notifications.c.subject_id.isnot(None),
)
sa.Index(
    "ix_notifications_comment",
    notifications.c.comment_id,
    postgresql_where=notifications.c.comment_id.isnot(None),
)

# Home timelines, fanned out on write: the newest public items of the people each user follows,
# capped per user (older entries are trimmed; the feed reads past the cap from `content`).
timeline = sa.Table(
    "timeline",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("item_id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("author_id", sa.Uuid, nullable=False),
)
# Removing an item from every timeline (deleted, made private), and a followee's items from one
# timeline (unfollow).
sa.Index("ix_timeline_item", timeline.c.item_id)
sa.Index("ix_timeline_user_author", timeline.c.user_id, timeline.c.author_id)

# The authors the feed and the notifications show (id, username, full name, avatar), kept from the
# users service's events and read through to it on a miss (codegram_content.authors).
authors = authors_table(metadata)
