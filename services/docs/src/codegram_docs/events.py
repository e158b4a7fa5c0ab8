"""What the docs service publishes through the outbox: codegram.docs.doc.<verb> events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_content.change_events import ContentEvents, proto_timestamp
from codegram_docs.domain import Doc
from codegram_kit.messaging.outbox import Outbox
from codegram_proto.codegram.events.v1 import docs_pb2 as events_pb2

SUBJECT_PREFIX = "codegram.docs.doc"


def facts(doc: Doc) -> events_pb2.DocFacts:
    return events_pb2.DocFacts(
        doc_id=str(doc.id),
        author_id=str(doc.author_id),
        visibility=doc.visibility,
        title=doc.title,
        slug=doc.slug,
        tags=list(doc.tags),
        created_at=proto_timestamp(doc.created_at),
        updated_at=proto_timestamp(doc.updated_at),
    )


def doc_events(outbox: Outbox, session: AsyncSession) -> ContentEvents[Doc]:
    return ContentEvents(
        outbox,
        session,
        subject_prefix=SUBJECT_PREFIX,
        entity="doc",
        facts=facts,
        messages=(events_pb2.DocCreated, events_pb2.DocUpdated, events_pb2.DocDeleted),
    )
