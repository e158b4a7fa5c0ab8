"""Tables of the snippets schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from codegram_kit.db import schema_metadata
from codegram_kit.outbox import messaging_tables

SCHEMA = "snippets"
metadata = schema_metadata(SCHEMA)

snippets = sa.Table(
    "snippets",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # The users service's user id; no foreign key across schemas (ARCHITECTURE.md).
    sa.Column("author_id", sa.Uuid, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("language_detected", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("visibility", sa.Text, nullable=False),
    # Kept by the social service's like and comment events once it exists.
    sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
    # Weighted terms (title and tags A, description B, code C) built by text_search at each write.
    sa.Column("search", TSVECTOR, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("visibility IN ('public', 'unlisted', 'private')", name="visibility"),
)

# Only public snippets are ever listed or searched by others, so those indexes are partial: smaller,
# and a query can only use them when it says `visibility = 'public'` in its text (the repository
# writes that predicate as a literal, not a bound parameter, for exactly this reason).
PUBLIC = sa.text("visibility = 'public'")
sa.Index(
    "ix_snippets_public_recent", snippets.c.created_at.desc(), snippets.c.id.desc(), postgresql_where=PUBLIC
)
sa.Index(
    "ix_snippets_public_language_recent",
    snippets.c.language,
    snippets.c.created_at.desc(),
    snippets.c.id.desc(),
    postgresql_where=PUBLIC,
)
sa.Index(
    "ix_snippets_public_popular", snippets.c.likes_count.desc(), snippets.c.id.desc(), postgresql_where=PUBLIC
)
sa.Index("ix_snippets_public_tags", snippets.c.tags, postgresql_using="gin", postgresql_where=PUBLIC)
sa.Index("ix_snippets_public_search", snippets.c.search, postgresql_using="gin", postgresql_where=PUBLIC)
# An author's own list shows every visibility to the author and only public ones to others.
sa.Index(
    "ix_snippets_author_recent", snippets.c.author_id, snippets.c.created_at.desc(), snippets.c.id.desc()
)

outbox, processed_events = messaging_tables(metadata)
