"""Docs as the service layer sees them (no FastAPI, SQL or protobuf types)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from codegram_kit.authors import Author
from codegram_kit.visibility import Visibility, visible_to

# API.md: content (markdown) at most 512 KiB, counted in UTF-8 bytes.
MAX_CONTENT_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Doc:
    id: UUID
    author_id: UUID
    # Made from the title at creation and kept (slugs.py says why).
    slug: str
    title: str
    description: str
    # The markdown and its sanitised HTML (rendered at each write); both empty in lists.
    content: str
    content_html: str
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
class AuthoredDoc:
    doc: Doc
    author: Author


@dataclass(frozen=True, slots=True)
class SearchHit:
    doc: Doc
    author: Author
    score: float
    cursor: str
    highlights: dict[str, list[str]]
