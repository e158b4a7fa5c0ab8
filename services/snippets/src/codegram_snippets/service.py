"""The snippets service's use cases; the HTTP and gRPC doors both call these.

Counters and personalisation belong to the social service (a later issue): `likes_count` and
`comments_count` are columns here so that social's like and comment events can keep them (and the
popular sort can use an index), and `liked_by_me` will come from one batched social call per page.
Until then they are 0 and false.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.authors import AuthorDirectory, authors_of
from codegram_kit.errors import Forbidden, NotFound
from codegram_kit.ids import new_uuid7, parse_id
from codegram_kit.keyset import (
    Order,
    decode_list_cursor,
    decode_search_cursor,
    next_page,
    search_cursor,
)
from codegram_kit.outbox import Outbox
from codegram_kit.text_search import highlight_fragments, websearch_text
from codegram_snippets import languages
from codegram_snippets.domain import AuthoredSnippet, SearchHit, Snippet
from codegram_snippets.events import SnippetEvents
from codegram_snippets.repository import ListFilters, SnippetRepository

# Search ranks at most this many of the newest matches (see codegram_kit.search_sql.ranked_page).
DEFAULT_CANDIDATE_CAP = 1000
HIGHLIGHT_FIELDS = ("title", "description", "code")


class SnippetService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        authors: AuthorDirectory,
        *,
        candidate_cap: int = DEFAULT_CANDIDATE_CAP,
    ) -> None:
        self.repo = SnippetRepository(session)
        self.events = SnippetEvents(outbox, session)
        self.authors = authors
        self.candidate_cap = candidate_cap

    # -- reads ---------------------------------------------------------------------------------
    async def _with_authors(self, found: Sequence[Snippet]) -> list[AuthoredSnippet]:
        # One batched call for the whole page, never one per row.
        known = await authors_of(self.authors, {s.author_id for s in found})
        return [AuthoredSnippet(s, known[s.author_id]) for s in found]

    async def _visible(self, snippet_id: str, viewer: UUID | None, *, for_update: bool = False) -> Snippet:
        sid = parse_id(snippet_id)
        snippet = await self.repo.by_id(sid, for_update=for_update) if sid else None
        if snippet is None or not snippet.visible_to(viewer):
            raise NotFound("snippet not found")  # a private snippet is as absent as a missing one
        return snippet

    async def get(self, snippet_id: str, viewer_id: str | None) -> AuthoredSnippet:
        snippet = await self._visible(snippet_id, parse_id(viewer_id))
        return (await self._with_authors([snippet]))[0]

    async def get_many(self, snippet_ids: Sequence[str]) -> list[Snippet]:
        """Whatever their visibility: gRPC callers enforce privacy with visibility and author."""
        ids = list(dict.fromkeys(sid for raw in snippet_ids if (sid := parse_id(raw))))
        return await self.repo.by_ids(ids)

    async def list_public(
        self,
        *,
        language: str | None,
        tags: Sequence[str],
        author_username: str | None,
        order: Order,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[AuthoredSnippet], str | None]:
        after = decode_list_cursor(cursor, order)
        author_id = None
        if author_username is not None:
            author_id = await self.authors.find_id(author_username)
            if author_id is None:
                return [], None  # nobody by that name has public snippets
        filters = ListFilters(language=language, tags=tags, author_id=author_id)
        found = await self.repo.list_public(filters, order, after, limit + 1)
        page, next_cursor = next_page(found, limit, order)
        return await self._with_authors(page), next_cursor

    async def list_by_author(
        self, username: str, viewer_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[AuthoredSnippet], str | None]:
        """Newest first. The author sees all of their snippets (unlisted and private included);
        everyone else sees the public ones only."""
        after = decode_list_cursor(cursor, "recent")
        author_id = await self.authors.find_id(username)
        if author_id is None:
            raise NotFound("user not found")
        public_only = parse_id(viewer_id) != author_id
        found = await self.repo.list_by_author(
            author_id, public_only=public_only, after=after, limit=limit + 1
        )
        page, next_cursor = next_page(found, limit, "recent")
        return await self._with_authors(page), next_cursor

    async def search(
        self, q: str, *, language: str | None, tags: Sequence[str], cursor: str | None, limit: int
    ) -> list[SearchHit]:
        after = decode_search_cursor(cursor)
        websearch = websearch_text(q)
        if not websearch:
            return []
        filters = ListFilters(language=language, tags=tags)
        ranked = await self.repo.search(websearch, filters, after, limit, self.candidate_cap)
        if not ranked:
            return []
        headlines = await self.repo.headlines([r.snippet.id for r in ranked], websearch)
        authored = await self._with_authors([r.snippet for r in ranked])
        hits = []
        for row, with_author in zip(ranked, authored, strict=True):
            marked = headlines.get(row.snippet.id, {})
            hits.append(
                SearchHit(
                    snippet=row.snippet,
                    author=with_author.author,
                    score=row.score,
                    cursor=search_cursor(row.score, row.snippet),
                    highlights={f: highlight_fragments(marked.get(f, "")) for f in HIGHLIGHT_FIELDS},
                )
            )
        return hits

    # -- writes --------------------------------------------------------------------------------
    async def create(self, author_id: str, fields: dict[str, Any]) -> AuthoredSnippet:
        uid = parse_id(author_id)
        if uid is None:
            raise NotFound("user not found")
        now = datetime.now(UTC)
        language = fields.get("language")
        values = {
            "id": new_uuid7(int(now.timestamp() * 1000)),
            "author_id": uid,
            "title": fields["title"],
            "description": fields.get("description") or "",
            "code": fields["code"],
            "language": language or await _detect(fields["code"]),
            "language_detected": language is None,
            "tags": list(fields.get("tags") or []),
            "visibility": fields.get("visibility") or "public",
            "created_at": now,
            "updated_at": now,
        }
        snippet = await self.repo.insert(values)
        await self.events.created(snippet)
        return (await self._with_authors([snippet]))[0]

    async def _own(self, snippet_id: str, viewer_id: str) -> Snippet:
        """The snippet if the viewer wrote it: 404 when they cannot even see it, else 403."""
        viewer = parse_id(viewer_id)
        snippet = await self._visible(snippet_id, viewer, for_update=True)
        if snippet.author_id != viewer:
            raise Forbidden("only the author may change this snippet")
        return snippet

    async def update(self, snippet_id: str, viewer_id: str, fields: dict[str, Any]) -> AuthoredSnippet:
        current = await self._own(snippet_id, viewer_id)
        changes = dict(fields)
        if "description" in changes and changes["description"] is None:
            changes["description"] = ""
        if "tags" in changes:
            changes["tags"] = list(changes["tags"] or [])
        if "language" in changes:
            given = changes["language"]
            changes["language_detected"] = given is None
            changes["language"] = given or await _detect(changes.get("code", current.code))
        elif "code" in changes and current.language_detected:
            # A language the service guessed is guessed again for new code; one the author chose stays.
            changes["language"] = await _detect(changes["code"])
        changed = {k: v for k, v in changes.items() if _differs(getattr(current, k), v)}
        if not changed:
            return (await self._with_authors([current]))[0]
        visible_change = [k for k in changed if k not in _BOOKKEEPING]
        if visible_change:
            changed["updated_at"] = datetime.now(UTC)
        snippet = await self.repo.update(current, changed)
        if visible_change:
            await self.events.updated(current, snippet, visible_change)
        return (await self._with_authors([snippet]))[0]

    async def delete(self, snippet_id: str, viewer_id: str) -> None:
        snippet = await self._own(snippet_id, viewer_id)
        await self.repo.delete(snippet.id)
        await self.events.deleted(snippet)


async def _detect(code: str) -> str:
    # Detection can take a few hundred milliseconds of CPU on odd input: off the event loop.
    return await asyncio.to_thread(languages.detect, code)


_BOOKKEEPING = frozenset({"updated_at", "language_detected"})


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, tuple):
        return list(current) != list(new)
    return bool(current != new)
