"""`GET /api/v1/feed` (API.md "Social"): a page of the home timeline, each item built as the
snippets and docs lists show it, from one batched call per content service and one to the users
service per page; the counters and `liked_by_me` come from social's own tables."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from grpc import aio
from pydantic import BaseModel, Field, PlainSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.users import AuthorSummary, GrpcAuthorDirectory, authors_of
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.raw import driver
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ErrorEnvelope, Unauthorized, Unavailable
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal
from codegram_kit.web.responses import page_response
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc
from codegram_social.config import SocialSettings
from codegram_social.feed import FeedEntry, TimelineRepository
from codegram_social.paging import decode_id_position, encode_position


def _rfc3339(value: datetime) -> str:
    # As the content services write times: always with microseconds, so they sort as strings.
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str)]


class FeedItemFields(BaseModel):
    """What a snippet and a doc both show in a list (the content services' list items)."""

    id: str
    title: str
    description: str
    tags: list[str]
    visibility: Literal["public", "unlisted", "private"]
    author: AuthorSummary
    likes_count: int
    comments_count: int
    liked_by_me: bool
    created_at: Timestamp
    updated_at: Timestamp


class FeedSnippet(FeedItemFields):
    """A snippet as `GET /snippets` lists it: the first lines of the code instead of all of it."""

    language: str
    code_preview: str


class FeedDoc(FeedItemFields):
    """A doc as `GET /docs` lists it: no content."""

    slug: str


class FeedSnippetEntry(BaseModel):
    type: Literal["snippet"]
    item: FeedSnippet


class FeedDocEntry(BaseModel):
    type: Literal["doc"]
    item: FeedDoc


FeedEntryRead = Annotated[FeedSnippetEntry | FeedDocEntry, Field(discriminator="type")]


class FeedPage(Page[FeedEntryRead]):
    """A page of the feed (named, so the OpenAPI schema has a readable name)."""


def _time(ts: Any) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


class FeedService:
    """The feed of one signed-in user, page by page."""

    def __init__(self, db: Database, snippets: aio.Channel, docs: aio.Channel, users: aio.Channel) -> None:
        self.db = db
        self.snippets = snippets_pb2_grpc.SnippetsServiceStub(snippets)
        self.docs = docs_pb2_grpc.DocsServiceStub(docs)
        self.authors = GrpcAuthorDirectory(users)

    async def page(
        self, user_id: UUID, cursor: str | None, limit: int
    ) -> tuple[list[FeedSnippetEntry | FeedDocEntry], str | None]:
        before = decode_id_position(cursor)
        async with self.db.unit_of_work() as session:
            found = await TimelineRepository(session).page(user_id, before, limit + 1)
            page = found[:limit]
            counts, liked = await _social_facts(session, user_id, page)
        next_cursor = encode_position(page[-1].created_at, page[-1].id) if len(found) > limit else None
        # The content services' own word on each item, read outside any transaction (one deleted
        # or no longer public a moment ago, its removal still on the way, is left out), and the
        # authors, all at once: the timeline already names each item's author.
        snippets, docs, authors = await asyncio.gather(
            self._snippets([e.id for e in page if e.kind == "snippet"]),
            self._docs([e.id for e in page if e.kind == "doc"]),
            authors_of(self.authors, {e.author_id for e in page}),
        )
        shown = [
            e
            for e in page
            if (item := (snippets if e.kind == "snippet" else docs).get(e.id)) is not None
            and item.visibility == "public"
            and item.author_id == str(e.author_id)
            and e.author_id != user_id
        ]
        entries: list[FeedSnippetEntry | FeedDocEntry] = []
        for e in shown:
            author = authors[e.author_id]
            likes_count, comments_count = counts.get((e.kind, e.id), (0, 0))
            common: dict[str, Any] = {
                "author": AuthorSummary.of(author),
                "likes_count": likes_count,
                "comments_count": comments_count,
                "liked_by_me": (e.kind, e.id) in liked,
            }
            if e.kind == "snippet":
                s = snippets[e.id]
                entries.append(
                    FeedSnippetEntry(
                        type="snippet",
                        item=FeedSnippet(
                            **_fields(s),
                            **common,
                            language=s.language,
                            code_preview=s.code_preview,
                        ),
                    )
                )
            else:
                d = docs[e.id]
                entries.append(FeedDocEntry(type="doc", item=FeedDoc(**_fields(d), **common, slug=d.slug)))
        return entries, next_cursor

    async def _snippets(self, ids: list[UUID]) -> dict[UUID, snippets_pb2.Snippet]:
        if not ids:
            return {}
        try:
            reply = await self.snippets.GetSnippets(
                snippets_pb2.GetSnippetsRequest(ids=[str(i) for i in ids])
            )
        except aio.AioRpcError as exc:
            raise Unavailable("the snippets service is unavailable") from exc
        return {UUID(s.id): s for s in reply.snippets}

    async def _docs(self, ids: list[UUID]) -> dict[UUID, docs_pb2.Doc]:
        if not ids:
            return {}
        try:
            reply = await self.docs.GetDocs(docs_pb2.GetDocsRequest(ids=[str(i) for i in ids]))
        except aio.AioRpcError as exc:
            raise Unavailable("the docs service is unavailable") from exc
        return {UUID(d.id): d for d in reply.docs}


def _fields(item: Any) -> dict[str, Any]:
    """The fields a `Snippet` or `Doc` reply has in common, as the list items show them."""
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "tags": list(item.tags),
        "visibility": item.visibility,
        "created_at": _time(item.created_at),
        "updated_at": _time(item.updated_at),
    }


# The page's counters and whether the user likes each item, in one statement (psycopg).
_SOCIAL_FACTS = """
SELECT k.kind, k.id, c.likes_count, c.comments_count,
    EXISTS (SELECT FROM likes l WHERE l.user_id = %s AND l.kind = k.kind AND l.subject_id = k.id)
FROM unnest(%s::text[], %s::uuid[]) AS k(kind, id)
LEFT JOIN content c ON c.kind = k.kind AND c.id = k.id
"""


async def _social_facts(
    session: AsyncSession, user_id: UUID, page: Collection[FeedEntry]
) -> tuple[dict[tuple[str, UUID], tuple[int, int]], set[tuple[str, UUID]]]:
    """The page's likes and comments counts (social's content read model) and which of its items
    the user likes, from one statement."""
    if not page:
        return {}, set()
    connection = await driver(session)
    cursor = await connection.execute(_SOCIAL_FACTS, (user_id, [e.kind for e in page], [e.id for e in page]))
    counts: dict[tuple[str, UUID], tuple[int, int]] = {}
    liked: set[tuple[str, UUID]] = set()
    for kind, item_id, likes_count, comments_count, likes_it in await cursor.fetchall():
        if likes_count is not None:
            counts[(kind, item_id)] = (likes_count, comments_count)
        if likes_it:
            liked.add((kind, item_id))
    return counts, liked


async def _feed_service(request: Request) -> FeedService:
    # Async, so that it runs on the event loop its gRPC channels belong to.
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    return FeedService(
        runtime.db,
        runtime.channel(settings.snippets_grpc_target),
        runtime.channel(settings.docs_grpc_target),
        runtime.channel(settings.users_grpc_target),
    )


Feed = Annotated[FeedService, Depends(_feed_service)]

router = APIRouter(tags=["social"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "A bad cursor or limit"},
    401: {"model": ErrorEnvelope, "description": "No valid access token"},
    503: {"model": ErrorEnvelope, "description": "The users, snippets or docs service is unavailable"},
}


@router.get(
    "/feed",
    response_model=FeedPage,
    summary="The signed-in user's home feed, newest first",
    description=(
        "The public snippets and docs of the people you follow (never your own), newest first, "
        "each as the snippets and docs lists show it. Items added while you page come before "
        "your cursor: following `next_cursor` repeats and skips nothing. A new item, follow or "
        "unfollow shows within moments."
    ),
    responses=_ERRORS,
)
async def feed(
    request: Request,
    principal: CurrentPrincipal,
    feed: Feed,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    user_id = parse_id(principal.user_id)
    if user_id is None:
        raise Unauthorized("invalid access token")
    entries, next_cursor = await feed.page(user_id, cursor, limit)
    return page_response(request, entries, limit, next_cursor)
