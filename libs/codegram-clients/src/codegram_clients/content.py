"""The content services' client (snippets and docs): the facts of a batch of items by id, whatever
their visibility (callers enforce privacy with `visibility` and `author_id`).

The social service keeps these facts in a read model fed by the content events and asks here only
for an item it has not heard of yet (created a moment ago, its event still on the way).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from grpc import aio

from codegram_kit.web.errors import Unavailable
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc

log = logging.getLogger(__name__)

# What can be liked, commented on and shown in a feed.
ContentKind = Literal["snippet", "doc"]
KINDS: tuple[ContentKind, ...] = ("snippet", "doc")


@dataclass(frozen=True, slots=True)
class ContentFacts:
    kind: ContentKind
    id: UUID
    author_id: UUID
    visibility: str
    title: str
    created_at: datetime
    updated_at: datetime


class ContentDirectory:
    """One batched call per kind; ids that do not exist are left out."""

    def __init__(self, snippets: aio.Channel, docs: aio.Channel) -> None:
        self.snippets = snippets_pb2_grpc.SnippetsServiceStub(snippets)
        self.docs = docs_pb2_grpc.DocsServiceStub(docs)

    async def facts(self, kind: ContentKind, ids: Collection[UUID]) -> dict[UUID, ContentFacts]:
        if not ids:
            return {}
        raw = [str(i) for i in ids]
        try:
            if kind == "snippet":
                items = list(
                    (await self.snippets.GetSnippets(snippets_pb2.GetSnippetsRequest(ids=raw))).snippets
                )
            else:
                items = list((await self.docs.GetDocs(docs_pb2.GetDocsRequest(ids=raw))).docs)
        except aio.AioRpcError as exc:
            log.warning("content service call failed", extra={"kind": kind, "code": exc.code().name})
            raise Unavailable(f"the {kind}s service is unavailable") from exc
        return {
            UUID(item.id): ContentFacts(
                kind=kind,
                id=UUID(item.id),
                author_id=UUID(item.author_id),
                visibility=item.visibility,
                title=item.title,
                created_at=item.created_at.ToDatetime(tzinfo=UTC),
                updated_at=item.updated_at.ToDatetime(tzinfo=UTC),
            )
            for item in items
        }
