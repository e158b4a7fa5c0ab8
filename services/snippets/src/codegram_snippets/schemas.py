"""The snippets service's public API models (API.md "Snippet"), and the internal search answer.

Names are prefixed with Snippet: the gateway merges every service's schemas into one OpenAPI.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

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
from codegram_kit.web.requests import StrictModel
from codegram_snippets import languages
from codegram_snippets.domain import MAX_CODE_BYTES


def _any_case(name: str) -> str:
    # Classes rather than escapes for + # -: the same meaning in every regex dialect.
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c if c.isdigit() else f"[{c}]" for c in name)


# Every name `languages.canonical` knows, in any case, with ASCII whitespace around: checked before
# mapping and published as the field's pattern, so the OpenAPI lists exactly what is accepted.
LANGUAGE_PATTERN = (
    r"^[ \t\n\r\f\v]*(?:"
    + "|".join(_any_case(n) for n in sorted({*languages.CANONICAL, *languages.ALIASES}))
    + r")[ \t\n\r\f\v]*$"
)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
LanguageName = Annotated[str, Field(max_length=40, json_schema_extra={"pattern": LANGUAGE_PATTERN})]


def language_name(value: str) -> str | None:
    """The canonical name of a language as a client sent it, or None when the pattern refuses it."""
    return languages.canonical(value) if _LANGUAGE.match(value) else None


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    found = language_name(value)
    if found is None:
        raise ValueError("unknown language; use a name such as python, javascript, cpp, shell or text")
    return found


Code = Annotated[str, KEEP_WHITESPACE, within_bytes(MAX_CODE_BYTES)]
Language = Annotated[LanguageName | None, AfterValidator(_language)]


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


class SnippetRead(ContentFields):
    language: str
    code: str


class SnippetListItem(ContentFields):
    """A snippet in a list or a search hit: the first lines of the code instead of all of it."""

    language: str
    code_preview: str


class SnippetSearchHit(SearchHitFields[SnippetListItem]):
    """Highlights of title, description and code."""


class SnippetSearchResults(SearchResultsFields[SnippetSearchHit]):
    pass
