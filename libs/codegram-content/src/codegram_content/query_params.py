"""Query parameters the content services' list and search endpoints share (API.md "Lists")."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from codegram_content.tags import MAX_TAGS, TagInput
from codegram_kit.web.pagination import MAX_LIMIT
from codegram_kit.web.principal import OptionalPrincipal

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]
TagParams = Annotated[
    list[TagInput],
    Query(max_length=MAX_TAGS, description=f"Repeatable (up to {MAX_TAGS}); all must match."),
]
# The gateway's /api/v1/search refuses longer queries too.
MAX_QUERY_CHARS = 500
SearchQuery = Annotated[str, Query(max_length=MAX_QUERY_CHARS)]


def viewer_id(principal: OptionalPrincipal) -> str | None:
    return principal.user_id if principal else None
