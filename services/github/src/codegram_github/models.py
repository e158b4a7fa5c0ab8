"""Tables of the github schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "github"
metadata = schema_metadata(SCHEMA)

# Who signed in to CodeGram and when last (from codegram.auth.user.signed_in): what the schedules
# enqueue for.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("first_signed_in_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_accounts_last_signed_in_at", accounts.c.last_signed_in_at)

# One row per sync requested (by the user, a first sign-in or a schedule); the work queue carries
# its id. `schedule_key` makes a schedule's enqueue idempotent per user, kind and day.
sync_jobs = sa.Table(
    "sync_jobs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("schedule_key", sa.Text, nullable=True, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)
# At most one sync of a kind queued or running per user: a second request gets the first one.
sa.Index(
    "uq_sync_jobs_active",
    sync_jobs.c.user_id,
    sync_jobs.c.kind,
    unique=True,
    postgresql_where=sync_jobs.c.status.in_(("queued", "running")),
)

# The user's public repositories as the last sync saw them, with their languages (bytes each).
repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("github_id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("language", sa.Text, nullable=True),
    sa.Column("stars", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("forks", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("html_url", sa.Text, nullable=False),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("languages", JSONB, nullable=False, server_default="{}"),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
)
# The keyset orders of GET /users/{username}/repos.
sa.Index("ix_repositories_stars", repositories.c.user_id, repositories.c.stars, repositories.c.github_id)
sa.Index("ix_repositories_pushed", repositories.c.user_id, repositories.c.pushed_at, repositories.c.github_id)

# What GitHub last answered for a URL fetched with a user's token: sent back as If-None-Match, so an
# unchanged answer is a 304 that costs no quota and the stored body is used.
etags = sa.Table(
    "etags",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("etag", sa.Text, nullable=False),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

outbox, processed_events = messaging_tables(metadata)
