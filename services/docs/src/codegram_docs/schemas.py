"""The docs service's public API models (API.md "Doc"), and the internal search answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from codegram_docs.domain import MAX_CONTENT_BYTES
from codegram_kit.content_schemas import (
    ContentFields,
    Description,
    SearchHitFields,
    SearchResultsFields,
    Title,
    VisibilityField,
    no_nul,
)
from codegram_kit.schemas import StrictModel
from codegram_kit.tags import Tags


def _content(value: str) -> str:
    no_nul(value)
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"must be at most {MAX_CONTENT_BYTES // 1024} KiB")
    return value


# Markdown keeps its whitespace: leading indentation is a code block.
Content = Annotated[str, StringConstraints(strip_whitespace=False), AfterValidator(_content)]


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


class SearchHitRead(SearchHitFields[DocListItem]):
    """Highlights of title, description and content."""


class SearchResults(SearchResultsFields[SearchHitRead]):
    pass
