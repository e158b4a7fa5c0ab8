"""The snippets service's public HTTP API (API.md "Snippets"), and the search the gateway fans out to."""

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
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import DEFAULT_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import etag_json, page_response
from codegram_snippets import languages
from codegram_snippets.config import SnippetsSettings
from codegram_snippets.domain import Snippet, code_preview
from codegram_snippets.repository import ListFilters
from codegram_snippets.schemas import (
    SnippetCreate,
    SnippetListItem,
    SnippetRead,
    SnippetSearchHit,
    SnippetSearchResults,
    SnippetUpdate,
)
from codegram_snippets.service import SnippetService

router = APIRouter(prefix="/api/v1", tags=["snippets"])
# Not routed by the gateway (it forwards /api/v1 only): the gateway's /api/v1/search calls it.
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


async def _snippet_service(request: Request) -> AsyncIterator[SnippetService]:
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    cap = settings.search_candidate_cap if isinstance(settings, SnippetsSettings) else 1000
    authors = GrpcAuthorDirectory(runtime.channel(settings.users_grpc_target))
    async with runtime.db.unit_of_work() as session:
        yield SnippetService(session, runtime.outbox, authors, candidate_cap=cap)


Snippets = Annotated[SnippetService, Depends(_snippet_service)]


def _fields(item: Authored[Snippet]) -> dict:
    return {**content_fields(item.item, item.author), "language": item.item.language}


def to_read(item: Authored[Snippet]) -> SnippetRead:
    return SnippetRead(**_fields(item), code=item.item.code)


def to_list_item(item: Authored[Snippet]) -> SnippetListItem:
    return SnippetListItem(**_fields(item), code_preview=code_preview(item.item.code))


def to_hit(hit: SearchHit[Snippet]) -> SnippetSearchHit:
    return SnippetSearchHit(
        id=str(hit.item.id),
        score=hit.score,
        created_at=hit.item.created_at,
        cursor=hit.cursor,
        item=to_list_item(Authored(hit.item, hit.author)),
        highlights=hit.highlights,
    )


def _language_filter(language: str | None) -> str | None:
    if language is None:
        return None
    found = languages.canonical(language)
    if found is None:
        raise ValidationFailed(
            "unknown language", [{"field": "language", "in": "query", "message": "unknown language"}]
        )
    return found


@router.post(
    "/snippets",
    status_code=201,
    response_model=SnippetRead,
    summary="Share a snippet",
    description="Answers 201 with the snippet and its `Location`. `visibility` defaults to public; "
    "unlisted snippets are readable by id by anyone but never listed or searched. Without `language` "
    "it is detected from the code; a given one is lower-cased and mapped to a canonical name "
    "(`py` and `Python` -> `python`, `c++` -> `cpp`, `bash` -> `shell`), and an unknown one is a 400. "
    "Tags are trimmed, lower-cased and deduplicated; more than 10, or one that is not 1..30 of "
    "`a-z 0-9 + # . -`, is a 400 (nothing is silently rewritten). Code over 100 KiB (UTF-8 bytes) is "
    "a 400 on the `code` field.",
)
async def create_snippet(body: SnippetCreate, principal: CurrentPrincipal, snippets: Snippets) -> Response:
    created = await snippets.create(principal.user_id, body.model_dump())
    read = to_read(created)
    return JSONResponse(
        jsonable_encoder(read), status_code=201, headers={"Location": f"/api/v1/snippets/{read.id}"}
    )


@router.get(
    "/snippets",
    response_model=Page[SnippetListItem],
    summary="Public snippets, newest or most liked first",
    description="Only public snippets (unlisted and private ones never appear in lists). "
    "`tag` is repeatable and every tag must match; `author` is a username.",
)
async def list_snippets(
    request: Request,
    principal: OptionalPrincipal,  # (opt): a bad token is a 401; personalises liked_by_me later
    snippets: Snippets,
    language: Annotated[str | None, Query(max_length=40)] = None,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
    author: Annotated[str | None, Query(max_length=100)] = None,
    sort: Literal["recent", "popular"] = "recent",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    found, next_cursor = await snippets.list_public(
        ListFilters(language=_language_filter(language), tags=tag_filter(tag)),
        author_username=author,
        order=sort,
        cursor=cursor,
        limit=limit,
    )
    return page_response(request, [to_list_item(s) for s in found], limit, next_cursor)


@router.get("/snippets/{snippet_id}", response_model=SnippetRead, summary="One snippet")
async def get_snippet(
    request: Request,
    snippet_id: Annotated[str, Path(max_length=64)],
    principal: OptionalPrincipal,
    snippets: Snippets,
) -> Response:
    return etag_json(request, to_read(await snippets.get(snippet_id, viewer_id(principal))))


@router.patch("/snippets/{snippet_id}", response_model=SnippetRead, summary="Change your snippet")
async def update_snippet(
    snippet_id: Annotated[str, Path(max_length=64)],
    body: SnippetUpdate,
    principal: CurrentPrincipal,
    snippets: Snippets,
) -> SnippetRead:
    updated = await snippets.update(snippet_id, principal.user_id, body.model_dump(exclude_unset=True))
    return to_read(updated)


@router.delete("/snippets/{snippet_id}", status_code=204, summary="Delete your snippet")
async def delete_snippet(
    snippet_id: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, snippets: Snippets
) -> Response:
    await snippets.delete(snippet_id, principal.user_id)
    return Response(status_code=204)


@router.get(
    "/users/{username}/snippets",
    response_model=Page[SnippetListItem],
    summary="A user's snippets, newest first",
    description="The author sees all of their own snippets, unlisted and private ones included; "
    "everyone else sees the public ones.",
)
async def list_user_snippets(
    request: Request,
    username: Annotated[str, Path(max_length=100)],
    principal: OptionalPrincipal,
    snippets: Snippets,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    found, next_cursor = await snippets.list_by_author(username, viewer_id(principal), cursor, limit)
    return page_response(request, [to_list_item(s) for s in found], limit, next_cursor)


@internal_router.get(
    "/search",
    response_model=SnippetSearchResults,
    summary="Full-text search over public snippets (for the gateway's /api/v1/search)",
    description="Ranked by score (title and tags > description > code), then newest, then id. "
    "For a query that matches very many snippets, only the newest 1,000 matches (configurable) are "
    "ranked, so the answer stays fast; a rarer query is ranked over all its matches. Each hit's "
    "`cursor` continues after it. An empty query answers no hits.",
)
async def search_snippets(
    snippets: Snippets,
    principal: OptionalPrincipal,  # passed through by the gateway; only public snippets either way
    q: SearchQuery = "",
    language: Annotated[str | None, Query(max_length=40)] = None,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> SnippetSearchResults:
    hits = await snippets.search(
        q.replace("\x00", ""),
        ListFilters(language=_language_filter(language), tags=tag_filter(tag)),
        cursor=cursor,
        limit=limit,
    )
    return SnippetSearchResults(data=[to_hit(h) for h in hits])
