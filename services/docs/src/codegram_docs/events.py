"""What the docs service publishes through the outbox: codegram.docs.doc.<verb> events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_docs.domain import Doc
from codegram_kit.outbox import Outbox
from codegram_proto.codegram.events.v1 import docs_pb2 as events_pb2

DOC_CREATED = "codegram.docs.doc.created"
DOC_UPDATED = "codegram.docs.doc.updated"
DOC_DELETED = "codegram.docs.doc.deleted"


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def facts(doc: Doc) -> events_pb2.DocFacts:
    return events_pb2.DocFacts(
        doc_id=str(doc.id),
        author_id=str(doc.author_id),
        visibility=doc.visibility,
        title=doc.title,
        slug=doc.slug,
        tags=list(doc.tags),
        created_at=_ts(doc.created_at),
        updated_at=_ts(doc.updated_at),
    )


class DocEvents:
    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def created(self, doc: Doc) -> None:
        message = events_pb2.DocCreated(doc=facts(doc), occurred_at=_ts(datetime.now(UTC)))
        await self.outbox.add(self.session, DOC_CREATED, message)

    async def updated(self, before: Doc, after: Doc, changed: Iterable[str]) -> None:
        message = events_pb2.DocUpdated(
            doc=facts(after),
            changed_fields=sorted(changed),
            previous_visibility=before.visibility,
            occurred_at=_ts(datetime.now(UTC)),
        )
        await self.outbox.add(self.session, DOC_UPDATED, message)

    async def deleted(self, doc: Doc) -> None:
        message = events_pb2.DocDeleted(doc=facts(doc), occurred_at=_ts(datetime.now(UTC)))
        await self.outbox.add(self.session, DOC_DELETED, message)
