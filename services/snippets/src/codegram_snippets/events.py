"""What the snippets service publishes through the outbox: codegram.snippets.snippet.<verb> events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.outbox import Outbox
from codegram_proto.codegram.events.v1 import snippets_pb2 as events_pb2
from codegram_snippets.domain import Snippet

SNIPPET_CREATED = "codegram.snippets.snippet.created"
SNIPPET_UPDATED = "codegram.snippets.snippet.updated"
SNIPPET_DELETED = "codegram.snippets.snippet.deleted"


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def facts(snippet: Snippet) -> events_pb2.SnippetFacts:
    return events_pb2.SnippetFacts(
        snippet_id=str(snippet.id),
        author_id=str(snippet.author_id),
        visibility=snippet.visibility,
        title=snippet.title,
        language=snippet.language,
        tags=list(snippet.tags),
        created_at=_ts(snippet.created_at),
        updated_at=_ts(snippet.updated_at),
    )


class SnippetEvents:
    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def created(self, snippet: Snippet) -> None:
        message = events_pb2.SnippetCreated(snippet=facts(snippet), occurred_at=_ts(datetime.now(UTC)))
        await self.outbox.add(self.session, SNIPPET_CREATED, message)

    async def updated(self, before: Snippet, after: Snippet, changed: Iterable[str]) -> None:
        message = events_pb2.SnippetUpdated(
            snippet=facts(after),
            changed_fields=sorted(changed),
            previous_visibility=before.visibility,
            occurred_at=_ts(datetime.now(UTC)),
        )
        await self.outbox.add(self.session, SNIPPET_UPDATED, message)

    async def deleted(self, snippet: Snippet) -> None:
        message = events_pb2.SnippetDeleted(snippet=facts(snippet), occurred_at=_ts(datetime.now(UTC)))
        await self.outbox.add(self.session, SNIPPET_DELETED, message)
