"""The docs service's public HTTP API (API.md "Docs"), and the search the gateway fans out to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from codegram_clients.users import GrpcAuthorDirectory
from codegram_content.api_models import content_fields
from codegram_content.items import Authored, SearchHit
from codegram_content.query_params import Cursor, Limit, SearchQuery, TagParams, viewer_id
from codegram_content.tags import tag_filter
from codegram_content.use_cases import DEFAULT_CANDIDATE_CAP
from codegram_docs.config import DocsSettings
from codegram_docs.domain import Doc
from codegram_docs.repository import ListFilters
from codegram_docs.schemas import DocCreate, DocListItem, DocRead, DocSearchHit, DocSearchResults, DocUpdate
from codegram_docs.service import DEFAULT_RENDER_TIMEOUT, DocService
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.pagination import DEFAULT_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import etag_json, page_response

router = APIRouter(prefix="/api/v1", tags=["docs"])
# Not routed by the gateway (it forwards /api/v1 only): the gateway's /api/v1/search calls it.
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


async def _doc_service(request: Request) -> AsyncIterator[DocService]:
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    own = settings if isinstance(settings, DocsSettings) else None
    authors = GrpcAuthorDirectory(runtime.channel(settings.users_grpc_target))
    async with runtime.db.unit_of_work() as session:
        yield DocService(
            session,
            runtime.outbox,
            authors,
            candidate_cap=own.search_candidate_cap if own else DEFAULT_CANDIDATE_CAP,
            render_timeout=own.render_timeout_seconds if own else DEFAULT_RENDER_TIMEOUT,
        )


Docs = Annotated[DocService, Depends(_doc_service)]
DocId = Annotated[str, Path(max_length=64)]
Username = Annotated[str, Path(max_length=100)]


def to_list_item(item: Authored[Doc]) -> DocListItem:
    return DocListItem(**content_fields(item.item, item.author), slug=item.item.slug)


def to_read(item: Authored[Doc]) -> DocRead:
    d = item.item
    return DocRead(
        **content_fields(d, item.author), slug=d.slug, content=d.content, content_html=d.content_html
    )


def to_hit(hit: SearchHit[Doc]) -> DocSearchHit:
    return DocSearchHit(
        id=str(hit.item.id),
        score=hit.score,
        created_at=hit.item.created_at,
        cursor=hit.cursor,
        item=to_list_item(Authored(hit.item, hit.author)),
        highlights=hit.highlights,
    )


@router.post(
    "/docs",
    status_code=201,
    response_model=DocRead,
    summary="Publish a doc",
    description="Answers 201 with the doc and its `Location`. `content` is markdown (at most 512 KiB "
    "in UTF-8 bytes), rendered once to sanitised `content_html`. The `slug` is made from the title "
    "(lower case ASCII words joined by hyphens) and is unique per author: a second `Hello World` "
    "gets `hello-world-2`. `visibility` defaults to public; unlisted docs are readable by id or slug "
    "by anyone but never listed or searched. Tags follow the snippets' rules (at most 10, each 1..30 "
    "of `a-z 0-9 + # . -`, lower-cased and deduplicated; anything else is a 400).",
)
async def create_doc(body: DocCreate, principal: CurrentPrincipal, docs: Docs) -> Response:
    read = to_read(await docs.create(principal.user_id, body.model_dump()))
    return JSONResponse(
        jsonable_encoder(read), status_code=201, headers={"Location": f"/api/v1/docs/{read.id}"}
    )


@router.get(
    "/docs",
    response_model=Page[DocListItem],
    summary="Public docs, newest or most liked first",
    description="Only public docs (unlisted and private ones never appear in lists). `tag` is "
    "repeatable and every tag must match; `author` is a username. Items carry no `content` or "
    "`content_html`: read the doc by id or slug for them.",
)
async def list_docs(
    request: Request,
    principal: OptionalPrincipal,  # (opt): a bad token is a 401; personalises liked_by_me later
    docs: Docs,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
    author: Annotated[str | None, Query(max_length=100)] = None,
    sort: Literal["recent", "popular"] = "recent",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    found, next_cursor = await docs.list_public(
        ListFilters(tag_filter(tag)), author_username=author, order=sort, cursor=cursor, limit=limit
    )
    return page_response(request, [to_list_item(d) for d in found], limit, next_cursor)


@router.get("/docs/{doc_id}", response_model=DocRead, summary="One doc")
async def get_doc(request: Request, doc_id: DocId, principal: OptionalPrincipal, docs: Docs) -> Response:
    return etag_json(request, to_read(await docs.get(doc_id, viewer_id(principal))))


@router.patch(
    "/docs/{doc_id}",
    response_model=DocRead,
    summary="Change your doc",
    description="Only the fields sent change. The slug stays the same when the title changes, so "
    "links to the doc keep working.",
)
async def update_doc(doc_id: DocId, body: DocUpdate, principal: CurrentPrincipal, docs: Docs) -> DocRead:
    return to_read(await docs.update(doc_id, principal.user_id, body.model_dump(exclude_unset=True)))


@router.delete("/docs/{doc_id}", status_code=204, summary="Delete your doc")
async def delete_doc(doc_id: DocId, principal: CurrentPrincipal, docs: Docs) -> Response:
    await docs.delete(doc_id, principal.user_id)
    return Response(status_code=204)


@router.get(
    "/users/{username}/docs",
    response_model=Page[DocListItem],
    summary="A user's docs, newest first",
    description="The author sees all of their own docs, unlisted and private ones included; "
    "everyone else sees the public ones.",
)
async def list_user_docs(
    request: Request,
    username: Username,
    principal: OptionalPrincipal,
    docs: Docs,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    found, next_cursor = await docs.list_by_author(username, viewer_id(principal), cursor, limit)
    return page_response(request, [to_list_item(d) for d in found], limit, next_cursor)


@router.get(
    "/users/{username}/docs/{slug}",
    response_model=DocRead,
    summary="One doc by its author and slug",
    description="The same doc and rules as `GET /docs/{id}`: private docs only for their author.",
)
async def get_doc_by_slug(
    request: Request,
    username: Username,
    slug: Annotated[str, Path(max_length=100)],
    principal: OptionalPrincipal,
    docs: Docs,
) -> Response:
    return etag_json(request, to_read(await docs.get_by_slug(username, slug, viewer_id(principal))))


@internal_router.get(
    "/search",
    response_model=DocSearchResults,
    summary="Full-text search over public docs (for the gateway's /api/v1/search)",
    description="Ranked by score (title and tags > description > content), then newest, then id, "
    "exactly like the snippets service's search, so the gateway can merge the two. For a query that "
    "matches very many docs, only the newest 1,000 matches (configurable) are ranked. Each hit's "
    "`cursor` continues after it. An empty query answers no hits, and so does any `language` "
    "(docs have none). Content highlights come from the first 64 KiB of the markdown.",
)
async def search_docs(
    docs: Docs,
    principal: OptionalPrincipal,  # passed through by the gateway; only public docs either way
    q: SearchQuery = "",
    language: Annotated[str | None, Query(max_length=40)] = None,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> DocSearchResults:
    if language is not None:
        return DocSearchResults(data=[])
    hits = await docs.search(q.replace("\x00", ""), ListFilters(tag_filter(tag)), cursor=cursor, limit=limit)
    return DocSearchResults(data=[to_hit(h) for h in hits])
