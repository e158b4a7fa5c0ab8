"""Content (snippets, docs) as the service layers see it: the fields every item has, with its author,
and a search hit. No FastAPI, SQL or protobuf types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from codegram_clients.users import Author
from codegram_content.visibility import Visibility, visible_to


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentItem:
    """What a snippet and a doc both are; each service's item adds its own fields."""

    id: UUID
    author_id: UUID
    title: str
    description: str
    tags: tuple[str, ...]
    visibility: Visibility
    # Kept from the social service's like and comment events (social_counts.py).
    likes_count: int
    comments_count: int
    created_at: datetime
    updated_at: datetime

    def visible_to(self, viewer_id: UUID | None) -> bool:
        return visible_to(self.visibility, self.author_id, viewer_id)


ItemT = TypeVar("ItemT", bound=ContentItem)


@dataclass(frozen=True, slots=True)
class Authored(Generic[ItemT]):
    item: ItemT
    author: Author
    # Whether the viewer likes it (false for anonymous viewers, and when the social service
    # could not say).
    liked_by_me: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit(Generic[ItemT]):
    item: ItemT
    author: Author
    score: float
    cursor: str
    highlights: dict[str, list[str]]
