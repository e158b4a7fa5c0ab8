"""The docs service's public API models (API.md "Doc"), and the internal search answer.

Names are prefixed with Doc: the gateway merges every service's schemas into one OpenAPI.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from codegram_content.api_models import (
    KEEP_WHITESPACE,
    ContentFields,
    Description,
    SearchHitFields,
    SearchResultsFields,
    Title,
    VisibilityField,
    within_bytes,
)
from codegram_content.tags import Tags
from codegram_docs.domain import MAX_CONTENT_BYTES
from codegram_kit.web.requests import StrictModel

Content = Annotated[str, KEEP_WHITESPACE, within_bytes(MAX_CONTENT_BYTES)]


class DocCreate(StrictModel):
    """`POST /docs`. The slug is made from the title (unique per author) and never changes."""

    title: Title
    description: Description = ""
    content: Content
    tags: Tags = Field(default_factory=list)
    visibility: VisibilityField = "public"


class DocUpdate(StrictModel):
    """`PATCH /docs/{id}`: only the fields sent change. `description: null` clears it, `tags: null`
    empties them; `title`, `content` and `visibility` cannot be null (the None defaults below only
    mean "not sent": they are never validated, while a null that is sent is)."""

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    content: Content = None  # type: ignore[assignment]
    tags: Tags | None = None
    visibility: VisibilityField = None  # type: ignore[assignment]


class DocListItem(ContentFields):
    """A doc in a list or a search hit: no content (fetch the doc by id or slug for it)."""

    slug: str


class DocRead(DocListItem):
    content: str = Field(description="Markdown, as written.")
    content_html: str = Field(
        description="The content rendered (CommonMark, tables, strikethrough, highlighted fenced code) "
        "and sanitised: no script, event handlers, `javascript:` or `data:` URLs, or raw HTML; "
        'links carry rel="nofollow noopener".'
    )


class DocSearchHit(SearchHitFields[DocListItem]):
    """Highlights of title, description and content."""


class DocSearchResults(SearchResultsFields[DocSearchHit]):
    pass
