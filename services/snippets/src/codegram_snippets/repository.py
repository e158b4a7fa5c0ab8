"""Every query of the snippets service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.keyset import Order
from codegram_kit.search_sql import (
    BODY_HEADLINE,
    TITLE_HEADLINE,
    headline,
    plan_for_these_values,
    rank_order,
    ranked_page,
    search_vector,
)
from codegram_snippets.domain import PREVIEW_CHARS, Snippet
from codegram_snippets.models import snippets

# Written as a literal so the planner can match the partial indexes (see models.py).
IS_PUBLIC = snippets.c.visibility == sa.literal_column("'public'")

_ALL_COLUMNS = [c for c in snippets.c if c.name != "search"]
# Lists read only the head of the code (the preview), never whole 100 KiB values.
_LIST_COLUMNS = [
    sa.func.substr(snippets.c.code, 1, PREVIEW_CHARS).label("code") if c.name == "code" else c
    for c in _ALL_COLUMNS
]

_SEARCHED_FIELDS = ("title", "description", "code", "tags")


@dataclass(frozen=True, slots=True)
class ListFilters:
    language: str | None = None
    tags: Sequence[str] = ()
    author_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RankedRow:
    snippet: Snippet
    score: float


def _to_snippet(row: sa.Row[Any]) -> Snippet:
    return Snippet(
        id=row.id,
        author_id=row.author_id,
        title=row.title,
        description=row.description,
        code=row.code,
        language=row.language,
        language_detected=row.language_detected,
        tags=tuple(row.tags),
        visibility=row.visibility,
        likes_count=row.likes_count,
        comments_count=row.comments_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def snippet_vector(title: str, description: str, code: str, tags: Sequence[str]) -> sa.ColumnElement[Any]:
    """Title and tags weigh A, description B, code C."""
    return search_vector([(f"{title} {' '.join(tags)}", "A"), (description, "B"), (code, "C")])


class SnippetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> Snippet:
        # Splitting 100 KiB of code into terms takes ~100 ms of CPU: off the event loop.
        vector = await asyncio.to_thread(
            snippet_vector, values["title"], values["description"], values["code"], values["tags"]
        )
        query = sa.insert(snippets).values(**values, search=vector).returning(*_ALL_COLUMNS)
        return _to_snippet((await self.session.execute(query)).one())

    async def by_id(self, snippet_id: UUID, *, for_update: bool = False) -> Snippet | None:
        query = sa.select(*_ALL_COLUMNS).where(snippets.c.id == snippet_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _to_snippet(row) if row else None

    async def by_ids(self, ids: Sequence[UUID]) -> list[Snippet]:
        if not ids:
            return []
        query = sa.select(*_LIST_COLUMNS).where(snippets.c.id.in_(ids))
        return [_to_snippet(r) for r in (await self.session.execute(query)).all()]

    async def update(self, current: Snippet, changes: dict[str, Any]) -> Snippet:
        values = dict(changes)
        if any(f in changes for f in _SEARCHED_FIELDS):
            merged = {f: changes.get(f, getattr(current, f)) for f in _SEARCHED_FIELDS}
            values["search"] = await asyncio.to_thread(snippet_vector, **merged)
        query = (
            sa.update(snippets).where(snippets.c.id == current.id).values(**values).returning(*_ALL_COLUMNS)
        )
        return _to_snippet((await self.session.execute(query)).one())

    async def delete(self, snippet_id: UUID) -> None:
        await self.session.execute(sa.delete(snippets).where(snippets.c.id == snippet_id))

    async def list_public(
        self, filters: ListFilters, order: Order, after: tuple[Any, UUID] | None, limit: int
    ) -> list[Snippet]:
        """Public snippets in keyset order: (created_at, id) or (likes_count, id), newest/most liked first."""
        if filters.tags:
            await plan_for_these_values(self.session)
        query = sa.select(*_LIST_COLUMNS).where(IS_PUBLIC)
        if filters.language:
            query = query.where(snippets.c.language == filters.language)
        if filters.tags:
            query = query.where(snippets.c.tags.contains(list(filters.tags)))
        if filters.author_id:
            query = query.where(snippets.c.author_id == filters.author_id)
        key = snippets.c.created_at if order == "recent" else snippets.c.likes_count
        if after is not None:
            query = query.where(sa.tuple_(key, snippets.c.id) < sa.tuple_(*after))
        query = query.order_by(key.desc(), snippets.c.id.desc()).limit(limit)
        return [_to_snippet(r) for r in (await self.session.execute(query)).all()]

    async def list_by_author(
        self, author_id: UUID, *, public_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Snippet]:
        query = sa.select(*_LIST_COLUMNS).where(snippets.c.author_id == author_id)
        if public_only:
            query = query.where(IS_PUBLIC)
        if after is not None:
            query = query.where(sa.tuple_(snippets.c.created_at, snippets.c.id) < sa.tuple_(*after))
        query = query.order_by(snippets.c.created_at.desc(), snippets.c.id.desc()).limit(limit)
        return [_to_snippet(r) for r in (await self.session.execute(query)).all()]

    async def search(
        self,
        websearch: str,
        filters: ListFilters,
        after: tuple[float, datetime, UUID] | None,
        limit: int,
        candidate_cap: int,
    ) -> list[RankedRow]:
        """Public matches, best first: ranked among the newest `candidate_cap` matches.

        The candidates come from an index-ordered scan (newest first) that stops after the cap, so
        a term in nearly every row costs `candidate_cap` rows, not a million; a rarer query has
        fewer matches than the cap and is ranked whole.
        """
        await plan_for_these_values(self.session)
        where = [IS_PUBLIC]
        if filters.language:
            where.append(snippets.c.language == filters.language)
        if filters.tags:
            where.append(snippets.c.tags.contains(list(filters.tags)))
        ranked = ranked_page(snippets, where, websearch, after, limit, candidate_cap)
        # The page is cut from the ranked candidates first; only its rows are then read whole.
        query = (
            sa.select(ranked.c.score, *_LIST_COLUMNS)
            .join(ranked, ranked.c.id == snippets.c.id)
            .order_by(*rank_order(ranked))
        )
        rows = (await self.session.execute(query)).all()
        return [RankedRow(_to_snippet(r), float(r.score)) for r in rows]

    async def headlines(self, ids: Sequence[UUID], websearch: str) -> dict[UUID, dict[str, str]]:
        """`ts_headline` of title, description and code: only for the page being returned."""
        if not ids:
            return {}
        query = sa.select(
            snippets.c.id,
            headline(snippets.c.title, websearch, TITLE_HEADLINE).label("title"),
            headline(snippets.c.description, websearch, BODY_HEADLINE).label("description"),
            headline(snippets.c.code, websearch, BODY_HEADLINE).label("code"),
        ).where(snippets.c.id.in_(ids))
        rows = (await self.session.execute(query)).all()
        return {r.id: {"title": r.title, "description": r.description, "code": r.code} for r in rows}
