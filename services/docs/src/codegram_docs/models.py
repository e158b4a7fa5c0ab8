"""Tables of the docs schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from codegram_kit.db import schema_metadata
from codegram_kit.outbox import messaging_tables

SCHEMA = "docs"
metadata = schema_metadata(SCHEMA)

docs = sa.Table(
    "docs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # The users service's user id; no foreign key across schemas (ARCHITECTURE.md).
    sa.Column("author_id", sa.Uuid, nullable=False),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("content", sa.Text, nullable=False),
    # Rendered and sanitised at each write, so reads never render.
    sa.Column("content_html", sa.Text, nullable=False),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("visibility", sa.Text, nullable=False),
    # Kept by the social service's like and comment events once it exists.
    sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
    # Weighted terms (title and tags A, description B, content C) built at each write.
    sa.Column("search", TSVECTOR, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("visibility IN ('public', 'unlisted', 'private')", name="visibility"),
    # Slugs are unique per author; this index also answers /users/{username}/docs/{slug}.
    sa.UniqueConstraint("author_id", "slug"),
)

# As in the snippets service: only public docs are listed or searched by others, so those indexes
# are partial, and the repository writes `visibility = 'public'` as a literal so they can be used.
PUBLIC = sa.text("visibility = 'public'")
sa.Index("ix_docs_public_recent", docs.c.created_at.desc(), docs.c.id.desc(), postgresql_where=PUBLIC)
sa.Index("ix_docs_public_popular", docs.c.likes_count.desc(), docs.c.id.desc(), postgresql_where=PUBLIC)
sa.Index("ix_docs_public_tags", docs.c.tags, postgresql_using="gin", postgresql_where=PUBLIC)
sa.Index("ix_docs_public_search", docs.c.search, postgresql_using="gin", postgresql_where=PUBLIC)
# An author's own list shows every visibility to the author and only public ones to others.
sa.Index("ix_docs_author_recent", docs.c.author_id, docs.c.created_at.desc(), docs.c.id.desc())

outbox, processed_events = messaging_tables(metadata)
