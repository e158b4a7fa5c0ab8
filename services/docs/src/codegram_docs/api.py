"""The docs service's public HTTP API (API.md "Docs"), and the search the gateway fans out to.

The routes are every content service's (codegram_content.http_routes); what is the docs' own is a
doc found by its author and slug, and the shape of a doc: its markdown and HTML, or neither in lists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from codegram_content.api_models import content_fields, content_json
from codegram_content.http_routes import ContentKind, Text, Username, content_routers
from codegram_content.items import Authored
from codegram_content.query_params import TagParams, viewer_id
from codegram_content.tags import tag_filter
from codegram_docs.domain import Doc
from codegram_docs.repository import ListFilters
from codegram_docs.schemas import DocCreate, DocListItem, DocRead, DocSearchHit, DocSearchResults, DocUpdate
from codegram_docs.service import DocService, doc_service
from codegram_kit.web.openapi import error_responses
from codegram_kit.web.principal import OptionalPrincipal
from codegram_kit.web.responses import etag_json


def to_list_item(item: Authored[Doc]) -> DocListItem:
    return DocListItem(**content_fields(item.item, item.author, item.liked_by_me), slug=item.item.slug)


def to_list_item_json(item: Authored[Doc]) -> dict[str, Any]:
    """`to_list_item` as the JSON values of its model."""
    fields = content_json(item.item, item.author, item.liked_by_me)
    fields["slug"] = item.item.slug
    return fields


def to_read(item: Authored[Doc]) -> DocRead:
    d = item.item
    return DocRead(
        **content_fields(d, item.author, item.liked_by_me),
        slug=d.slug,
        content=d.content,
        content_html=d.content_html,
    )


async def doc_filters(tag: TagParams = []) -> ListFilters:  # noqa: B006 - FastAPI copies query defaults
    return ListFilters(tag_filter(tag))


async def doc_search_filters(
    language: Annotated[str | None, Query(max_length=40)] = None,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
) -> ListFilters | None:
    # The gateway asks every content service with the same parameters; docs have no language, so
    # a language filter finds none, but the tags are still checked (a bad one is a 400 either way).
    filters = ListFilters(tag_filter(tag))
    return None if language is not None else filters


KIND = ContentKind(
    noun="doc",
    plural="docs",
    open_service=doc_service,
    create_schema=DocCreate,
    update_schema=DocUpdate,
    read_schema=DocRead,
    list_item_schema=DocListItem,
    hit_schema=DocSearchHit,
    results_schema=DocSearchResults,
    read=to_read,
    list_item=to_list_item,
    list_item_json=to_list_item_json,
    list_filters=doc_filters,
    search_filters=doc_search_filters,
    create_text=Text(
        "Publish a doc",
        "Answers 201 with the doc and its `Location`. `content` is markdown (at most 512 KiB "
        "in UTF-8 bytes), rendered once to sanitised `content_html`. The `slug` is made from the title "
        "(lower case ASCII words joined by hyphens) and is unique per author: a second `Hello World` "
        "gets `hello-world-2`. `visibility` defaults to public; unlisted docs are readable by id or slug "
        "by anyone but never listed or searched. Tags follow the snippets' rules (at most 10, each 1..30 "
        "of `a-z 0-9 + # . -`, lower-cased and deduplicated; anything else is a 400).",
    ),
    list_text=Text(
        "Public docs, newest or most liked first",
        "Only public docs (unlisted and private ones never appear in lists). `tag` is "
        "repeatable and every tag must match; `author` is a username. Items carry no `content` or "
        "`content_html`: read the doc by id or slug for them.",
    ),
    search_text=Text(
        "Full-text search over public docs (for the gateway's /api/v1/search)",
        "Ranked by score (title and tags > description > content), then newest, then id, "
        "exactly like the snippets service's search, so the gateway can merge the two. For a query that "
        "matches very many docs, only the newest 1,000 matches (configurable) are ranked. Each hit's "
        "`cursor` continues after it. An empty query answers no hits, and so does any `language` "
        "(docs have none). Content highlights come from the first 64 KiB of the markdown.",
    ),
    update_description="Only the fields sent change. The slug stays the same when the title changes, "
    "so links to the doc keep working.",
)
routes = content_routers(KIND)
router, internal_router = routes.router, routes.internal_router
Docs = Annotated[DocService, Depends(routes.service)]


@router.get(
    "/users/{username}/docs/{slug}",
    response_model=DocRead,
    responses=error_responses(404, s404="No such user or doc, or one the caller may not see."),
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
