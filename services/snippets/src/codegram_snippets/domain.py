"""Snippets as the service layer sees them (no FastAPI, SQL or protobuf types), and their pure rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from codegram_kit.authors import Author
from codegram_kit.visibility import Visibility, visible_to

MAX_CODE_BYTES = 100 * 1024

# Lists carry the first lines of the code, not all of it: a page of 100 snippets of 100 KiB each
# would be 10 MB. The repository reads only the head of the code for lists.
PREVIEW_LINES = 10
PREVIEW_CHARS = 1000

# Fields a PATCH may change, in the order events name them.
EDITABLE_FIELDS = ("title", "description", "code", "language", "tags", "visibility")


@dataclass(frozen=True, slots=True)
class Snippet:
    id: UUID
    author_id: UUID
    title: str
    description: str
    # The whole code when read one by one; only its first PREVIEW_CHARS characters in lists.
    code: str
    language: str
    # True when the service named the language itself, so a code change names it again.
    language_detected: bool
    tags: tuple[str, ...]
    visibility: Visibility
    # Kept from the social service's events once it exists (0 until then).
    likes_count: int
    comments_count: int
    created_at: datetime
    updated_at: datetime

    def visible_to(self, viewer_id: UUID | None) -> bool:
        return visible_to(self.visibility, self.author_id, viewer_id)


@dataclass(frozen=True, slots=True)
class AuthoredSnippet:
    snippet: Snippet
    author: Author


@dataclass(frozen=True, slots=True)
class SearchHit:
    snippet: Snippet
    author: Author
    score: float
    cursor: str
    highlights: dict[str, list[str]]


def code_preview(code: str) -> str:
    lines = code[:PREVIEW_CHARS].splitlines()
    return "\n".join(lines[:PREVIEW_LINES])
