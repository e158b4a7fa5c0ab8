"""The snippets service's public HTTP API (API.md "Snippets"), and the search the gateway fans out to.

The routes are every content service's (codegram_content.http_routes); what is the snippets' own is
the `language` filter and the shape of a snippet: all its code, or a preview of it in lists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from codegram_content.api_models import content_fields, content_json
from codegram_content.http_routes import ContentKind, Text, content_routers
from codegram_content.items import Authored
from codegram_content.query_params import TagParams
from codegram_content.tags import tag_filter
from codegram_kit.web.errors import ValidationFailed
from codegram_snippets.domain import Snippet, code_preview
from codegram_snippets.repository import ListFilters
from codegram_snippets.schemas import (
    LanguageName,
    SnippetCreate,
    SnippetListItem,
    SnippetRead,
    SnippetSearchHit,
    SnippetSearchResults,
    SnippetUpdate,
    language_name,
)
from codegram_snippets.service import snippet_service


def to_read(item: Authored[Snippet]) -> SnippetRead:
    return SnippetRead(
        **content_fields(item.item, item.author, item.liked_by_me),
        language=item.item.language,
        code=item.item.code,
    )


def to_list_item(item: Authored[Snippet]) -> SnippetListItem:
    fields = content_fields(item.item, item.author, item.liked_by_me)
    return SnippetListItem(**fields, language=item.item.language, code_preview=code_preview(item.item.code))


def to_list_item_json(item: Authored[Snippet]) -> dict[str, Any]:
    """`to_list_item` as the JSON values of its model."""
    fields = content_json(item.item, item.author, item.liked_by_me)
    fields["language"] = item.item.language
    fields["code_preview"] = code_preview(item.item.code)
    return fields


async def snippet_filters(
    language: Annotated[LanguageName | None, Query(description="A language name or alias, any case.")] = None,
    tag: TagParams = [],  # noqa: B006 - FastAPI copies query defaults
) -> ListFilters:
    found = None
    if language is not None:
        found = language_name(language)
        if found is None:
            raise ValidationFailed(
                "unknown language", [{"field": "language", "in": "query", "message": "unknown language"}]
            )
    return ListFilters(language=found, tags=tag_filter(tag))


KIND = ContentKind(
    noun="snippet",
    plural="snippets",
    open_service=snippet_service,
    create_schema=SnippetCreate,
    update_schema=SnippetUpdate,
    read_schema=SnippetRead,
    list_item_schema=SnippetListItem,
    hit_schema=SnippetSearchHit,
    results_schema=SnippetSearchResults,
    read=to_read,
    list_item=to_list_item,
    list_item_json=to_list_item_json,
    list_filters=snippet_filters,
    search_filters=snippet_filters,
    create_text=Text(
        "Share a snippet",
        "Answers 201 with the snippet and its `Location`. `visibility` defaults to public; "
        "unlisted snippets are readable by id by anyone but never listed or searched. Without "
        "`language` it is detected from the code; a given one is lower-cased and mapped to a "
        "canonical name (`py` and `Python` -> `python`, `c++` -> `cpp`, `bash` -> `shell`), and an "
        "unknown one is a 400. Tags are trimmed, lower-cased and deduplicated; more than 10, or one "
        "that is not 1..30 of `a-z 0-9 + # . -`, is a 400 (nothing is silently rewritten). Code over "
        "100 KiB (UTF-8 bytes) is a 400 on the `code` field.",
    ),
    list_text=Text(
        "Public snippets, newest or most liked first",
        "Only public snippets (unlisted and private ones never appear in lists). "
        "`tag` is repeatable and every tag must match; `author` is a username.",
    ),
    search_text=Text(
        "Full-text search over public snippets (for the gateway's /api/v1/search)",
        "Ranked by score (title and tags > description > code), then newest, then id. "
        "For a query that matches very many snippets, only the newest 1,000 matches (configurable) "
        "are ranked, so the answer stays fast; a rarer query is ranked over all its matches. Each "
        "hit's `cursor` continues after it. An empty query answers no hits.",
    ),
)
routes = content_routers(KIND)
router, internal_router = routes.router, routes.internal_router
