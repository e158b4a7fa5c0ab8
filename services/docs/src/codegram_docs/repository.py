"""Every query of the docs service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_docs.domain import Doc
from codegram_docs.models import docs
from codegram_docs.slugs import numbered
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

# Written as a literal so the planner can match the partial indexes (see models.py).
IS_PUBLIC = docs.c.visibility == sa.literal_column("'public'")

_ALL_COLUMNS = [c for c in docs.c if c.name != "search"]
# Lists and search hits carry no content: a page of 100 docs of 512 KiB would be 100 MB.
_LIST_COLUMNS = [
    sa.literal("").label(c.name) if c.name in ("content", "content_html") else c for c in _ALL_COLUMNS
]
_SEARCHED_FIELDS = ("title", "description", "content", "tags")
# ts_headline parses the whole text it is given; content highlights look at its head only, so a
# page of 512 KiB docs costs a bounded amount (a match further down shows in no content fragment).
HEADLINE_CONTENT_CHARS = 64 * 1024
# A slug taken between reading the author's slugs and inserting: read again and take the next.
SLUG_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ListFilters:
    tags: Sequence[str] = ()
    author_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RankedRow:
    doc: Doc
    score: float


class SlugsExhausted(Exception):
    """Every attempt to take a free slug lost a race (not expected outside a flood of creates)."""


def _to_doc(row: sa.Row[Any]) -> Doc:
    return Doc(
        id=row.id,
        author_id=row.author_id,
        slug=row.slug,
        title=row.title,
        description=row.description,
        content=row.content,
        content_html=row.content_html,
        tags=tuple(row.tags),
        visibility=row.visibility,
        likes_count=row.likes_count,
        comments_count=row.comments_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def doc_vector(title: str, description: str, content: str, tags: Sequence[str]) -> sa.ColumnElement[Any]:
    """Title and tags weigh A, description B, content C (code blocks included, identifiers split)."""
    return search_vector([(f"{title} {' '.join(tags)}", "A"), (description, "B"), (content, "C")])


class DocRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _slugs_like(self, author_id: UUID, base: str) -> set[str]:
        pattern = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"
        query = sa.select(docs.c.slug).where(
            docs.c.author_id == author_id, sa.or_(docs.c.slug == base, docs.c.slug.like(pattern))
        )
        return set((await self.session.execute(query)).scalars())

    async def insert(self, values: dict[str, Any], base_slug: str) -> Doc:
        """Insert with the first free slug of `base_slug` for this author.

        Race-safe without locks: the unique index on (author_id, slug) decides, `ON CONFLICT DO
        NOTHING` reports a lost race as no row, and the slugs are read again (a new statement sees
        the winner's committed row) to take the next number.
        """
        # Splitting 512 KiB of markdown into terms takes a good part of a second: off the event loop.
        vector = await asyncio.to_thread(
            doc_vector, values["title"], values["description"], values["content"], values["tags"]
        )
        for _ in range(SLUG_ATTEMPTS):
            slug = numbered(base_slug, await self._slugs_like(values["author_id"], base_slug))
            query = (
                pg_insert(docs)
                .values(**values, slug=slug, search=vector)
                .on_conflict_do_nothing(index_elements=[docs.c.author_id, docs.c.slug])
                .returning(*_ALL_COLUMNS)
            )
            row = (await self.session.execute(query)).first()
            if row is not None:
                return _to_doc(row)
        raise SlugsExhausted(base_slug)

    async def by_id(self, doc_id: UUID, *, for_update: bool = False) -> Doc | None:
        query = sa.select(*_ALL_COLUMNS).where(docs.c.id == doc_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _to_doc(row) if row else None

    async def by_slug(self, author_id: UUID, slug: str) -> Doc | None:
        query = sa.select(*_ALL_COLUMNS).where(docs.c.author_id == author_id, docs.c.slug == slug)
        row = (await self.session.execute(query)).first()
        return _to_doc(row) if row else None

    async def by_ids(self, ids: Sequence[UUID]) -> list[Doc]:
        if not ids:
            return []
        query = sa.select(*_LIST_COLUMNS).where(docs.c.id.in_(ids))
        return [_to_doc(r) for r in (await self.session.execute(query)).all()]

    async def update(self, current: Doc, changes: dict[str, Any]) -> Doc:
        values = dict(changes)
        if any(f in changes for f in _SEARCHED_FIELDS):
            merged = {f: changes.get(f, getattr(current, f)) for f in _SEARCHED_FIELDS}
            values["search"] = await asyncio.to_thread(doc_vector, **merged)
        query = sa.update(docs).where(docs.c.id == current.id).values(**values).returning(*_ALL_COLUMNS)
        return _to_doc((await self.session.execute(query)).one())

    async def delete(self, doc_id: UUID) -> None:
        await self.session.execute(sa.delete(docs).where(docs.c.id == doc_id))

    async def list_public(
        self, filters: ListFilters, order: Order, after: tuple[Any, UUID] | None, limit: int
    ) -> list[Doc]:
        """Public docs in keyset order: (created_at, id) or (likes_count, id), newest/most liked first."""
        if filters.tags:
            await plan_for_these_values(self.session)
        query = sa.select(*_LIST_COLUMNS).where(IS_PUBLIC)
        if filters.tags:
            query = query.where(docs.c.tags.contains(list(filters.tags)))
        if filters.author_id:
            query = query.where(docs.c.author_id == filters.author_id)
        key = docs.c.created_at if order == "recent" else docs.c.likes_count
        if after is not None:
            query = query.where(sa.tuple_(key, docs.c.id) < sa.tuple_(*after))
        query = query.order_by(key.desc(), docs.c.id.desc()).limit(limit)
        return [_to_doc(r) for r in (await self.session.execute(query)).all()]

    async def list_by_author(
        self, author_id: UUID, *, public_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Doc]:
        query = sa.select(*_LIST_COLUMNS).where(docs.c.author_id == author_id)
        if public_only:
            query = query.where(IS_PUBLIC)
        if after is not None:
            query = query.where(sa.tuple_(docs.c.created_at, docs.c.id) < sa.tuple_(*after))
        query = query.order_by(docs.c.created_at.desc(), docs.c.id.desc()).limit(limit)
        return [_to_doc(r) for r in (await self.session.execute(query)).all()]

    async def search(
        self,
        websearch: str,
        filters: ListFilters,
        after: tuple[float, datetime, UUID] | None,
        limit: int,
        candidate_cap: int,
    ) -> list[RankedRow]:
        """Public matches, best first, ranked among the newest `candidate_cap` matches
        (codegram_kit.search_sql.ranked_page); whole rows are read for the page only."""
        await plan_for_these_values(self.session)
        where = [IS_PUBLIC]
        if filters.tags:
            where.append(docs.c.tags.contains(list(filters.tags)))
        ranked = ranked_page(docs, where, websearch, after, limit, candidate_cap)
        query = (
            sa.select(ranked.c.score, *_LIST_COLUMNS)
            .join(ranked, ranked.c.id == docs.c.id)
            .order_by(*rank_order(ranked))
        )
        rows = (await self.session.execute(query)).all()
        return [RankedRow(_to_doc(r), float(r.score)) for r in rows]

    async def headlines(self, ids: Sequence[UUID], websearch: str) -> dict[UUID, dict[str, str]]:
        """`ts_headline` of title, description and the head of the content: for the returned page only."""
        if not ids:
            return {}
        content_head = sa.func.substr(docs.c.content, 1, HEADLINE_CONTENT_CHARS)
        query = sa.select(
            docs.c.id,
            headline(docs.c.title, websearch, TITLE_HEADLINE).label("title"),
            headline(docs.c.description, websearch, BODY_HEADLINE).label("description"),
            headline(content_head, websearch, BODY_HEADLINE).label("content"),
        ).where(docs.c.id.in_(ids))
        rows = (await self.session.execute(query)).all()
        return {r.id: {"title": r.title, "description": r.description, "content": r.content} for r in rows}
