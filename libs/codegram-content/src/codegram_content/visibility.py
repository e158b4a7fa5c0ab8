"""Who may see a piece of content: public, unlisted and private, the same for snippets and docs."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

Visibility = Literal["public", "unlisted", "private"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted", "private")


def visible_to(visibility: Visibility, author_id: UUID, viewer_id: UUID | None) -> bool:
    """Public and unlisted content is readable by id by anyone; private content only by its author.
    (Lists and search show public content only; that is the repositories' `visibility = 'public'`.)"""
    return visibility != "private" or viewer_id == author_id
