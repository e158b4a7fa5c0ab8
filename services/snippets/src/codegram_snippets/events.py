"""What the snippets service publishes through the outbox: codegram.snippets.snippet.<verb> events."""

from __future__ import annotations

from codegram_content.change_events import EventKind
from codegram_proto.codegram.events.v1 import snippets_pb2 as events_pb2

SUBJECT_PREFIX = "codegram.snippets.snippet"

SNIPPET_EVENTS = EventKind(
    subject_prefix=SUBJECT_PREFIX,
    entity="snippet",
    facts=events_pb2.SnippetFacts,
    own_fields=("language",),
    created=events_pb2.SnippetCreated,
    updated=events_pb2.SnippetUpdated,
    deleted=events_pb2.SnippetDeleted,
)
