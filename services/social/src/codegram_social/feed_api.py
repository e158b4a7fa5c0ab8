"""`GET /api/v1/feed` (API.md "Social"): a page of the home timeline, each item built as the
snippets and docs lists show it, from social's own read models (content, counters, likes, authors);
the content and users services are asked only for what those do not hold yet."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from grpc import aio
from pydantic import BaseModel, Field

from codegram_clients.content import ContentFacts, ContentKind
from codegram_clients.users import Author, AuthorDirectory, AuthorSummary, authors_of
from codegram_content.api_models import Timestamp, rfc3339
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import parse_id
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ErrorEnvelope, Unauthorized, Unavailable
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal
from codegram_kit.web.responses import page_response
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc
from codegram_social.authors import local_authors
from codegram_social.config import SocialSettings
from codegram_social.content import ContentRepository, ListedItem
from codegram_social.feed import FeedReads
from codegram_social.paging import decode_id_position, encode_position, has_flag

# The cursor's mark of a position past the end of the reader's timeline.
PAST_TIMELINE = "p"


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


def _listed(kind: ContentKind, item: Any) -> ListedItem:
    """A `Snippet` or `Doc` reply as social keeps it."""
    facts = ContentFacts(
        kind=kind,
        id=UUID(item.id),
        author_id=UUID(item.author_id),
        visibility=item.visibility,
        title=item.title,
        created_at=_time(item.created_at),
        updated_at=_time(item.updated_at),
    )
    if kind == "snippet":
        return ListedItem(facts, item.description, list(item.tags), item.language, item.code_preview)
    return ListedItem(facts, item.description, list(item.tags), slug=item.slug)


def _from_row(row: Any) -> ListedItem | None:
    """The item as the content read model holds it, if its list fields are those of its current
    version (read through its service once per version: the content events lack some of them)."""
    listed_at = row["listed_at"]
    if listed_at is None or listed_at < row["updated_at"]:
        return None
    facts = ContentFacts(
        kind=row["kind"],
        id=row["id"],
        author_id=row["owner_id"],
        visibility=row["visibility"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return ListedItem(
        facts, row["description"], list(row["tags"]), row["language"], row["code_preview"], row["slug"]
    )


def _shown(row: Any) -> bool | None:
    """Whether the content read model says the entry is to be shown (public, not deleted, still
    the timeline's author's); None when it has not heard of the item."""
    if row["owner_id"] is None:
        return None
    return not row["deleted"] and row["visibility"] == "public" and row["owner_id"] == row["author_id"]


class FeedContentDirectory:
    """The content services' list view of a batch of items (one `GetSnippets` or `GetDocs`), for
    the items of a page the content read model has not listed in their current version."""

    def __init__(self, snippets: aio.Channel, docs: aio.Channel) -> None:
        self.snippets = snippets_pb2_grpc.SnippetsServiceStub(snippets)
        self.docs = docs_pb2_grpc.DocsServiceStub(docs)

    async def listed(self, kind: ContentKind, ids: Collection[UUID]) -> list[ListedItem]:
        if not ids:
            return []
        raw = [str(i) for i in ids]
        try:
            if kind == "snippet":
                reply = await self.snippets.GetSnippets(snippets_pb2.GetSnippetsRequest(ids=raw))
                return [_listed(kind, s) for s in reply.snippets]
            docs = await self.docs.GetDocs(docs_pb2.GetDocsRequest(ids=raw))
            return [_listed(kind, d) for d in docs.docs]
        except aio.AioRpcError as exc:
            raise Unavailable(f"the {kind}s service is unavailable") from exc


class FeedService:
    """The feed of one signed-in user, page by page.

    A page is one statement over social's own tables (`feed.FeedReads`): the timeline's entries
    with each item as the content read model holds it, its counters, the reader's like and its
    author's profile. Social learns of a delete or a visibility change from the content service
    right after its commit (`ContentChanged`), and from its event, so the read model's word on
    what may be shown is the content service's. Only what the read model lacks is asked: the
    list fields of an item it has not read in its current version (one `GetSnippets` or
    `GetDocs` for all such items of the page), and authors it does not hold (the users service,
    through `LocalAuthorDirectory`); both are kept.
    """

    def __init__(self, db: Database, directory: FeedContentDirectory, authors: AuthorDirectory) -> None:
        self.db = db
        self.reads = FeedReads(db)
        self.directory = directory
        self.authors = authors

    async def page(
        self, user_id: UUID, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        before = decode_id_position(cursor)
        past_timeline = before is not None and has_flag(cursor, PAST_TIMELINE)
        found, past = await self.reads.page(user_id, before, limit + 1, past_timeline=past_timeline)
        rows = found[:limit]
        next_cursor = None
        if len(found) > limit:
            # A page that reached the timeline's end says so to the next one, which then skips it.
            flag = PAST_TIMELINE if past else None
            next_cursor = encode_position(rows[-1]["created_at"], rows[-1]["id"], flag=flag)
        items: dict[UUID, ListedItem] = {}
        unlisted: dict[ContentKind, list[UUID]] = {"snippet": [], "doc": []}
        for row in rows:
            shown = _shown(row)
            if shown is False or row["author_id"] == user_id:
                continue
            item = _from_row(row) if shown else None
            if item is None:
                unlisted[row["kind"]].append(row["id"])
            else:
                items[row["id"]] = item
        unknown_authors = {r["author_id"] for r in rows if r["username"] is None}
        fetched, people = await asyncio.gather(
            self._read_through(unlisted), authors_of(self.authors, unknown_authors)
        )
        items.update(fetched)
        for row in rows:
            if row["username"] is not None:
                people[row["author_id"]] = Author(
                    row["author_id"], row["username"], row["full_name"], row["avatar_url"]
                )
        entries: list[dict[str, Any]] = []
        for row in rows:
            item = items.get(row["id"])
            # Read through, the content service's own word: one deleted or no longer public a
            # moment ago, its removal still on the way, is left out.
            if item is None or item.facts.visibility != "public" or item.facts.author_id != row["author_id"]:
                continue
            entries.append(_entry_json(item, people[row["author_id"]], row))
        return entries, next_cursor

    async def _read_through(self, ids: dict[ContentKind, list[UUID]]) -> dict[UUID, ListedItem]:
        """The items of these ids as their content services list them (outside any transaction),
        then kept; ids that do not exist are left out."""
        if not any(ids.values()):
            return {}
        replies = await asyncio.gather(*(self.directory.listed(kind, found) for kind, found in ids.items()))
        listed = {i.facts.id: i for reply in replies for i in reply}
        if listed:
            async with self.db.unit_of_work() as session:
                await ContentRepository(session).keep_listed(list(listed.values()))
        return listed


def _entry_json(item: ListedItem, author: Author, row: Any) -> dict[str, Any]:
    """A feed entry as the JSON values its model (`FeedSnippetEntry` or `FeedDocEntry`) serialises
    to, built directly: a page is built and written on every feed request. The models stay the
    documented schema; a unit test builds the same entry through them and compares the bytes."""
    facts = item.facts
    likes_count, comments_count = row["likes_count"], row["comments_count"]
    fields: dict[str, Any] = {
        "id": str(facts.id),
        "title": facts.title,
        "description": item.description,
        "tags": item.tags,
        "visibility": facts.visibility,
        "author": {
            "id": str(author.id),
            "username": author.username,
            "full_name": author.full_name,
            "avatar_url": author.avatar_url,
        },
        "likes_count": 0 if likes_count is None else likes_count,
        "comments_count": 0 if comments_count is None else comments_count,
        "liked_by_me": bool(row["liked"]),
        "created_at": rfc3339(facts.created_at),
        "updated_at": rfc3339(facts.updated_at),
    }
    if facts.kind == "snippet":
        fields["language"] = item.language or ""
        fields["code_preview"] = item.code_preview or ""
        return {"type": "snippet", "item": fields}
    fields["slug"] = item.slug or ""
    return {"type": "doc", "item": fields}


async def _feed_service(request: Request) -> FeedService:
    # Async, so that it runs on the event loop its gRPC channels belong to.
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    directory = FeedContentDirectory(
        runtime.channel(settings.snippets_grpc_target), runtime.channel(settings.docs_grpc_target)
    )
    return FeedService(runtime.db, directory, local_authors(runtime))


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
