"""What the snippets service publishes through the outbox: codegram.snippets.snippet.<verb> events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_content.change_events import ContentEvents, proto_timestamp
from codegram_kit.messaging.outbox import Outbox
from codegram_proto.codegram.events.v1 import snippets_pb2 as events_pb2
from codegram_snippets.domain import Snippet

SUBJECT_PREFIX = "codegram.snippets.snippet"


def facts(snippet: Snippet) -> events_pb2.SnippetFacts:
    return events_pb2.SnippetFacts(
        snippet_id=str(snippet.id),
        author_id=str(snippet.author_id),
        visibility=snippet.visibility,
        title=snippet.title,
        language=snippet.language,
        tags=list(snippet.tags),
        created_at=proto_timestamp(snippet.created_at),
        updated_at=proto_timestamp(snippet.updated_at),
    )


def snippet_events(outbox: Outbox, session: AsyncSession) -> ContentEvents[Snippet]:
    return ContentEvents(
        outbox,
        session,
        subject_prefix=SUBJECT_PREFIX,
        entity="snippet",
        facts=facts,
        messages=(events_pb2.SnippetCreated, events_pb2.SnippetUpdated, events_pb2.SnippetDeleted),
    )
