"""Tables of the github schema."""

from __future__ import annotations

from codegram_kit.db.engine import schema_metadata
from codegram_kit.messaging.outbox import messaging_tables

SCHEMA = "github"
metadata = schema_metadata(SCHEMA)
outbox, processed_events = messaging_tables(metadata)
