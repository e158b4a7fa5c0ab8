"""Tables of the users schema."""

from __future__ import annotations

import sqlalchemy as sa

from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "users"
metadata = schema_metadata(SCHEMA)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False, server_default=""),
    sa.Column("avatar_url", sa.Text, nullable=False, server_default=""),
    sa.Column("bio", sa.Text, nullable=False, server_default=""),
    sa.Column("location", sa.Text, nullable=False, server_default=""),
    sa.Column("website", sa.Text, nullable=False, server_default=""),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("github_id", sa.BigInteger, nullable=True, unique=True),
    sa.Column("github_login", sa.Text, nullable=True),
    sa.Column("github_followers", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("github_following", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("github_public_repos", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("github_synced_at", sa.DateTime(timezone=True), nullable=True),
    # Counters kept by events from the social, snippets and docs services.
    sa.Column("followers_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("following_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("snippets_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("docs_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Usernames are unique regardless of case. Under the "C" collation the same index serves equality,
# keyset paging (ORDER BY / >) and prefix search (LIKE 'abc%'), whatever the database's locale.
username_key = sa.func.lower(users.c.username).collate("C")
full_name_key = sa.func.lower(users.c.full_name).collate("C")
sa.Index("uq_users_username_lower", username_key, unique=True)
sa.Index("ix_users_full_name_lower", full_name_key)

outbox, processed_events = messaging_tables(metadata)
