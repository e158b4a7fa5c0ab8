"""Tables of the snippets schema."""

from __future__ import annotations

import sqlalchemy as sa

from codegram_content.authors import authors_table
from codegram_content.store import content_table, public_indexes
from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "snippets"
metadata = schema_metadata(SCHEMA)

snippets = content_table(
    "snippets",
    metadata,
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("language_detected", sa.Boolean, nullable=False, server_default=sa.false()),
)
public_indexes(snippets)
# Snippets are also listed by language (the partial-index rule of codegram_content.store).
sa.Index(
    "ix_snippets_public_language_recent",
    snippets.c.language,
    snippets.c.created_at.desc(),
    snippets.c.id.desc(),
    postgresql_where=sa.text("visibility = 'public'"),
)

# Author summaries kept from the users service's events (codegram_content.authors).
authors = authors_table(metadata)
outbox, processed_events = messaging_tables(metadata)
