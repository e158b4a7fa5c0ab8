"""Tables of the docs schema."""

from __future__ import annotations

import sqlalchemy as sa

from codegram_content.authors import authors_table
from codegram_content.store import content_table, public_indexes
from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "docs"
metadata = schema_metadata(SCHEMA)

docs = content_table(
    "docs",
    metadata,
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    # Rendered and sanitised at each write, so reads never render.
    sa.Column("content_html", sa.Text, nullable=False),
    # Slugs are unique per author; this index also answers /users/{username}/docs/{slug}.
    sa.UniqueConstraint("author_id", "slug"),
)
public_indexes(docs)

# Author summaries kept from the users service's events (codegram_content.authors).
authors = authors_table(metadata)
outbox, processed_events = messaging_tables(metadata)
