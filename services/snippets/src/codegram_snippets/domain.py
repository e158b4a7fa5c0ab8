"""Snippets as the service layer sees them (no FastAPI, SQL or protobuf types), and their pure rules."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from codegram_kit.errors import ValidationFailed

Visibility = Literal["public", "unlisted", "private"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted", "private")

MAX_CODE_BYTES = 100 * 1024
MAX_TAGS = 10
MAX_TAG_LENGTH = 30
_TAG = re.compile(r"[a-z0-9+#.-]+")

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
        """Public and unlisted snippets are readable by id by anyone; private ones only by the author."""
        return self.visibility != "private" or viewer_id == self.author_id


@dataclass(frozen=True, slots=True)
class Author:
    """The author summary every snippet response embeds (API.md: `author: {id, username, ...}`)."""

    id: UUID
    username: str
    full_name: str
    avatar_url: str


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


def unknown_author(author_id: UUID) -> Author:
    """A snippet whose author the users service no longer knows is shown with an empty profile."""
    return Author(id=author_id, username="", full_name="", avatar_url="")


def normalise_tags(raw: list[str]) -> list[str]:
    """API.md: lower case, trimmed, deduplicated (first spelling kept in order), at most 10, each
    1..30 characters of `[a-z0-9+#.-]`. A tag that breaks the rule is refused rather than silently
    rewritten, so a client never stores something other than what it meant."""
    tags: list[str] = []
    for value in raw:
        tag = value.strip().lower()
        if not 1 <= len(tag) <= MAX_TAG_LENGTH or not _TAG.fullmatch(tag):
            raise ValueError(f"each tag must be 1..{MAX_TAG_LENGTH} characters of a-z 0-9 + # . -")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def tag_filter(raw: list[str]) -> list[str]:
    """The `tag=` query filter, normalised like stored tags; a tag that cannot exist is a 400."""
    try:
        return normalise_tags(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [{"field": "tag", "in": "query", "message": str(exc)}]) from exc


def code_preview(code: str) -> str:
    lines = code[:PREVIEW_CHARS].splitlines()
    return "\n".join(lines[:PREVIEW_LINES])


def new_snippet_id(now_ms: int | None = None) -> UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so ties on a sort key fall back to newest first and new
    rows land at the right edge of the primary key index."""
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return UUID(int=value)
