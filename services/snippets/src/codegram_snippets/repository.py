"""Every query of the snippets service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_snippets.domain import PREVIEW_CHARS, Snippet
from codegram_snippets.models import snippets
from codegram_snippets.text_search import document_terms

SIMPLE = sa.literal_column("'simple'::regconfig")
# Written as a literal so the planner can match the partial indexes (see models.py).
IS_PUBLIC = snippets.c.visibility == sa.literal_column("'public'")
# ts_rank weights for D, C, B, A: a title (or tag) hit counts ten times a hit in the code.
RANK_WEIGHTS = sa.literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
# 1: divide by 1 + log(document length), so a long file does not win by sheer repetition;
# 32: rank / (rank + 1), so every score is in [0, 1) and comparable with the docs service's.
RANK_NORMALISATION = 1 | 32
# Every lexeme of the query becomes a prefix (`'json':*`); excluded ones (`!'json'`) stay exact.
_PREFIX_PATTERN = "(?<!!)'(?:[^']|'')+'"
# ts_headline marks and fragment delimiter: control characters, removed from the text beforehand.
_HIGHLIGHT_START, _HIGHLIGHT_STOP, _FRAGMENT_DELIMITER = "\x02", "\x03", "\x04"
_TITLE_HEADLINE = f"StartSel={_HIGHLIGHT_START}, StopSel={_HIGHLIGHT_STOP}, HighlightAll=true"
_BODY_HEADLINE = (
    f"StartSel={_HIGHLIGHT_START}, StopSel={_HIGHLIGHT_STOP}, MaxFragments=3, MaxWords=16, MinWords=4, "
    f"FragmentDelimiter={_FRAGMENT_DELIMITER}"
)

_ALL_COLUMNS = [c for c in snippets.c if c.name != "search"]
# Lists read only the head of the code (the preview), never whole 100 KiB values.
_LIST_COLUMNS = [
    sa.func.substr(snippets.c.code, 1, PREVIEW_CHARS).label("code") if c.name == "code" else c
    for c in _ALL_COLUMNS
]

Order = Literal["recent", "popular"]
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


def search_vector(title: str, description: str, code: str, tags: Sequence[str]) -> sa.ColumnElement[Any]:
    def weighted(terms: str, weight: str) -> sa.ColumnElement[Any]:
        return sa.func.setweight(sa.func.to_tsvector(SIMPLE, terms), sa.literal_column(f"'{weight}'"))

    title_terms = f"{document_terms(title)} {document_terms(' '.join(tags))}".strip()
    return (
        weighted(title_terms, "A")
        .op("||")(weighted(document_terms(description), "B"))
        .op("||")(weighted(document_terms(code), "C"))
    )


def tsquery(websearch: str) -> sa.ColumnElement[Any]:
    """`websearch_to_tsquery('simple', q)` with every kept lexeme made a prefix."""
    parsed = sa.cast(sa.func.websearch_to_tsquery(SIMPLE, websearch), sa.Text)
    return sa.cast(sa.func.regexp_replace(parsed, _PREFIX_PATTERN, r"\&:*", "g"), TSQUERY)


def highlight_marks() -> tuple[str, str, str]:
    """The start and stop marks and the fragment delimiter `headlines` returns (HTML-escaped text)."""
    return _HIGHLIGHT_START, _HIGHLIGHT_STOP, _FRAGMENT_DELIMITER


class SnippetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _plan_for_these_values(self) -> None:
        """Plan the next queries for their actual values, in this transaction only.

        psycopg prepares a statement after a few runs, and Postgres may then reuse one generic plan
        for every value. For search and tag filters the right plan depends on the value: a rare term
        wants the GIN index, a term in most rows wants the newest-first index scan that stops early.
        A generic plan picks one for all (measured: 300 ms instead of 20 ms for a frequent term).
        """
        await self.session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def insert(self, values: dict[str, Any]) -> Snippet:
        # Splitting 100 KiB of code into terms takes ~100 ms of CPU: off the event loop.
        vector = await asyncio.to_thread(
            search_vector, values["title"], values["description"], values["code"], values["tags"]
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
            values["search"] = await asyncio.to_thread(search_vector, **merged)
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
            await self._plan_for_these_values()
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
        await self._plan_for_these_values()
        query_vector = tsquery(websearch)
        candidates = sa.select(snippets.c.id, snippets.c.created_at, snippets.c.search).where(
            IS_PUBLIC, snippets.c.search.op("@@")(query_vector)
        )
        if filters.language:
            candidates = candidates.where(snippets.c.language == filters.language)
        if filters.tags:
            candidates = candidates.where(snippets.c.tags.contains(list(filters.tags)))
        cand = (
            candidates.order_by(snippets.c.created_at.desc(), snippets.c.id.desc())
            .limit(candidate_cap)
            .subquery("candidates")
        )
        rank = sa.func.ts_rank(RANK_WEIGHTS, cand.c.search, tsquery(websearch), RANK_NORMALISATION)
        # Rounded so the score is exactly the same number in SQL, in Python and in a cursor.
        score = sa.cast(sa.func.round(sa.cast(rank, sa.Numeric), 6), sa.Float).label("score")
        scored = sa.select(cand.c.id, cand.c.created_at, score).subquery("scored")
        # The page is cut from the ranked candidates first; only its rows are then read whole.
        page = sa.select(scored)
        if after is not None:
            page = page.where(sa.tuple_(scored.c.score, scored.c.created_at, scored.c.id) < sa.tuple_(*after))
        ranked = (
            page.order_by(scored.c.score.desc(), scored.c.created_at.desc(), scored.c.id.desc())
            .limit(limit)
            .subquery("ranked")
        )
        query = (
            sa.select(ranked.c.score, *_LIST_COLUMNS)
            .join(ranked, ranked.c.id == snippets.c.id)
            .order_by(ranked.c.score.desc(), ranked.c.created_at.desc(), ranked.c.id.desc())
        )
        rows = (await self.session.execute(query)).all()
        return [RankedRow(_to_snippet(r), float(r.score)) for r in rows]

    async def headlines(self, ids: Sequence[UUID], websearch: str) -> dict[UUID, dict[str, str]]:
        """`ts_headline` of title, description and code: only for the page being returned."""
        if not ids:
            return {}
        query_vector = tsquery(websearch)

        def headline(column: sa.ColumnElement[str], options: str) -> sa.ColumnElement[str]:
            # Escaped before ts_headline: it would otherwise drop `<div>` from HTML code as markup.
            # The marks are control characters removed from the text first, so they are ours alone.
            escaped = sa.func.replace(
                sa.func.replace(sa.func.replace(column, "&", "&amp;"), "<", "&lt;"), ">", "&gt;"
            )
            text = sa.func.translate(escaped, _HIGHLIGHT_START + _HIGHLIGHT_STOP + _FRAGMENT_DELIMITER, "")
            return sa.func.ts_headline(SIMPLE, text, query_vector, options)

        query = sa.select(
            snippets.c.id,
            headline(snippets.c.title, _TITLE_HEADLINE).label("title"),
            headline(snippets.c.description, _BODY_HEADLINE).label("description"),
            headline(snippets.c.code, _BODY_HEADLINE).label("code"),
        ).where(snippets.c.id.in_(ids))
        rows = (await self.session.execute(query)).all()
        return {r.id: {"title": r.title, "description": r.description, "code": r.code} for r in rows}
