"""What the docs service publishes through the outbox: codegram.docs.doc.<verb> events."""

from __future__ import annotations

from codegram_content.change_events import EventKind
from codegram_proto.codegram.events.v1 import docs_pb2 as events_pb2

SUBJECT_PREFIX = "codegram.docs.doc"

DOC_EVENTS = EventKind(
    subject_prefix=SUBJECT_PREFIX,
    entity="doc",
    facts=events_pb2.DocFacts,
    own_fields=("slug",),
    created=events_pb2.DocCreated,
    updated=events_pb2.DocUpdated,
    deleted=events_pb2.DocDeleted,
)
