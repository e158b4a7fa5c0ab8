"""The snippets service's public API models (API.md "Snippet"), and the internal search answer.

Names are prefixed with Snippet: the gateway merges every service's schemas into one OpenAPI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, StringConstraints

from codegram_kit.schemas import StrictModel
from codegram_kit.user_views import AuthorSummary
from codegram_snippets import languages
from codegram_snippets.domain import MAX_CODE_BYTES, normalise_tags


def rfc3339(value: datetime) -> str:
    # Always with microseconds: fixed width, so the strings sort as the times do (the gateway
    # merges search hits by created_at).
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


def _no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refusing it here makes it a 400 instead of a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _code(value: str) -> str:
    _no_nul(value)
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value.encode()) > MAX_CODE_BYTES:
        raise ValueError(f"must be at most {MAX_CODE_BYTES // 1024} KiB")
    return value


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    found = languages.canonical(value)
    if found is None:
        raise ValueError("unknown language; use a name such as python, javascript, cpp, shell or text")
    return found


Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
# Code keeps its whitespace: the first line's indentation is part of it.
Code = Annotated[str, StringConstraints(strip_whitespace=False), AfterValidator(_code)]
Language = Annotated[str | None, Field(max_length=40), AfterValidator(_language)]
Tags = Annotated[
    list[Annotated[str, Field(max_length=100)]], Field(max_length=50), AfterValidator(normalise_tags)
]
VisibilityField = Literal["public", "unlisted", "private"]


class SnippetCreate(StrictModel):
    """`POST /snippets`. Without `language` it is detected from the code; a given one is
    lower-cased and mapped to the canonical name (`Python`, `py` -> `python`), unknown ones are 400."""

    title: Title
    description: Description = ""
    code: Code
    language: Language = None
    tags: Tags = Field(default_factory=list)
    visibility: VisibilityField = "public"


class SnippetUpdate(StrictModel):
    """`PATCH /snippets/{id}`: only the fields sent change. `description: null` clears it,
    `tags: null` empties them, `language: null` asks for detection again; `title`, `code` and
    `visibility` cannot be null (the None defaults below only mean "not sent": they are never
    validated, while a null that is sent is)."""

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    code: Code = None  # type: ignore[assignment]
    language: Language = None
    tags: Tags | None = None
    visibility: VisibilityField = None  # type: ignore[assignment]


class _SnippetFields(BaseModel):
    id: str
    title: str
    description: str
    language: str
    tags: list[str]
    visibility: VisibilityField
    author: AuthorSummary
    likes_count: int
    comments_count: int
    liked_by_me: bool
    created_at: Timestamp
    updated_at: Timestamp


class SnippetRead(_SnippetFields):
    code: str


class SnippetListItem(_SnippetFields):
    """A snippet in a list or a search hit: the first lines of the code instead of all of it."""

    code_preview: str


class SnippetSearchHit(BaseModel):
    id: str
    score: float = Field(description="In [0, 1); the same for the same snippet and query.")
    created_at: Timestamp
    cursor: str = Field(description="Pass as `cursor=` to get the hits after this one.")
    item: SnippetListItem
    highlights: dict[str, list[str]] = Field(
        description="title, description and code: HTML-escaped fragments with <mark> around matches."
    )


class SnippetSearchResults(BaseModel):
    data: list[SnippetSearchHit]
