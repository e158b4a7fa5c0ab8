"""The docs service's use cases; the HTTP and gRPC doors both call these.

As in the snippets service, `likes_count` and `comments_count` are columns kept from the social
service's events once it exists, and `liked_by_me` will come from one batched social call per page;
until then they are 0 and false.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_docs import rendering
from codegram_docs.domain import AuthoredDoc, Doc, SearchHit
from codegram_docs.events import DocEvents
from codegram_docs.repository import DocRepository, ListFilters, SlugsExhausted
from codegram_docs.slugs import slugify
from codegram_kit.authors import AuthorDirectory, authors_of
from codegram_kit.errors import Conflict, Forbidden, NotFound
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

# Search ranks at most this many of the newest matches (see codegram_kit.search_sql.ranked_page).
DEFAULT_CANDIDATE_CAP = 1000
DEFAULT_RENDER_TIMEOUT = 6.0
HIGHLIGHT_FIELDS = ("title", "description", "content")
_BOOKKEEPING = frozenset({"updated_at", "content_html"})


class DocService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        authors: AuthorDirectory,
        *,
        candidate_cap: int = DEFAULT_CANDIDATE_CAP,
        render_timeout: float = DEFAULT_RENDER_TIMEOUT,
    ) -> None:
        self.repo = DocRepository(session)
        self.events = DocEvents(outbox, session)
        self.authors = authors
        self.candidate_cap = candidate_cap
        self.render_timeout = render_timeout

    # -- reads ---------------------------------------------------------------------------------
    async def _with_authors(self, found: Sequence[Doc]) -> list[AuthoredDoc]:
        # One batched call for the whole page, never one per row.
        known = await authors_of(self.authors, {d.author_id for d in found})
        return [AuthoredDoc(d, known[d.author_id]) for d in found]

    async def _visible(self, doc_id: str, viewer: UUID | None, *, for_update: bool = False) -> Doc:
        did = parse_id(doc_id)
        doc = await self.repo.by_id(did, for_update=for_update) if did else None
        if doc is None or not doc.visible_to(viewer):
            raise NotFound("doc not found")  # a private doc is as absent as a missing one
        return doc

    async def get(self, doc_id: str, viewer_id: str | None) -> AuthoredDoc:
        doc = await self._visible(doc_id, parse_id(viewer_id))
        return (await self._with_authors([doc]))[0]

    async def get_by_slug(self, username: str, slug: str, viewer_id: str | None) -> AuthoredDoc:
        """The same visibility rules as by id: a private doc is a 404 to all but its author."""
        author_id = await self.authors.find_id(username)
        doc = await self.repo.by_slug(author_id, slug.lower()) if author_id else None
        if doc is None or not doc.visible_to(parse_id(viewer_id)):
            raise NotFound("doc not found")
        return (await self._with_authors([doc]))[0]

    async def get_many(self, doc_ids: Sequence[str]) -> list[Doc]:
        """Whatever their visibility: gRPC callers enforce privacy with visibility and author."""
        ids = list(dict.fromkeys(did for raw in doc_ids if (did := parse_id(raw))))
        return await self.repo.by_ids(ids)

    async def list_public(
        self,
        *,
        tags: Sequence[str],
        author_username: str | None,
        order: Order,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[AuthoredDoc], str | None]:
        after = decode_list_cursor(cursor, order)
        author_id = None
        if author_username is not None:
            author_id = await self.authors.find_id(author_username)
            if author_id is None:
                return [], None  # nobody by that name has public docs
        found = await self.repo.list_public(ListFilters(tags, author_id), order, after, limit + 1)
        page, next_cursor = next_page(found, limit, order)
        return await self._with_authors(page), next_cursor

    async def list_by_author(
        self, username: str, viewer_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[AuthoredDoc], str | None]:
        """Newest first. The author sees all of their docs (unlisted and private included);
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

    async def search(self, q: str, *, tags: Sequence[str], cursor: str | None, limit: int) -> list[SearchHit]:
        after = decode_search_cursor(cursor)
        websearch = websearch_text(q)
        if not websearch:
            return []
        ranked = await self.repo.search(websearch, ListFilters(tags), after, limit, self.candidate_cap)
        if not ranked:
            return []
        headlines = await self.repo.headlines([r.doc.id for r in ranked], websearch)
        authored = await self._with_authors([r.doc for r in ranked])
        return [
            SearchHit(
                doc=row.doc,
                author=with_author.author,
                score=row.score,
                cursor=search_cursor(row.score, row.doc),
                highlights={
                    f: highlight_fragments(headlines.get(row.doc.id, {}).get(f, "")) for f in HIGHLIGHT_FIELDS
                },
            )
            for row, with_author in zip(ranked, authored, strict=True)
        ]

    # -- writes --------------------------------------------------------------------------------
    async def _render(self, content: str) -> str:
        # CPU-bound, and bounded in time for large pages (rendering.render_bounded): off the loop.
        return await asyncio.to_thread(rendering.render_bounded, content, self.render_timeout)

    async def create(self, author_id: str, fields: dict[str, Any]) -> AuthoredDoc:
        uid = parse_id(author_id)
        if uid is None:
            raise NotFound("user not found")
        now = datetime.now(UTC)
        values = {
            "id": new_uuid7(int(now.timestamp() * 1000)),
            "author_id": uid,
            "title": fields["title"],
            "description": fields.get("description") or "",
            "content": fields["content"],
            "content_html": await self._render(fields["content"]),
            "tags": list(fields.get("tags") or []),
            "visibility": fields.get("visibility") or "public",
            "created_at": now,
            "updated_at": now,
        }
        try:
            doc = await self.repo.insert(values, slugify(fields["title"]))
        except SlugsExhausted:
            raise Conflict("too many docs with this title are being created at once; try again") from None
        await self.events.created(doc)
        return (await self._with_authors([doc]))[0]

    async def _own(self, doc_id: str, viewer_id: str) -> Doc:
        """The doc if the viewer wrote it: 404 when they cannot even see it, else 403."""
        viewer = parse_id(viewer_id)
        doc = await self._visible(doc_id, viewer, for_update=True)
        if doc.author_id != viewer:
            raise Forbidden("only the author may change this doc")
        return doc

    async def update(self, doc_id: str, viewer_id: str, fields: dict[str, Any]) -> AuthoredDoc:
        """Only the fields sent change. The slug stays what it was, whatever the new title
        (slugs.py: links to the doc must not break)."""
        current = await self._own(doc_id, viewer_id)
        changes = dict(fields)
        if "description" in changes and changes["description"] is None:
            changes["description"] = ""
        if "tags" in changes:
            changes["tags"] = list(changes["tags"] or [])
        changed = {k: v for k, v in changes.items() if _differs(getattr(current, k), v)}
        if not changed:
            return (await self._with_authors([current]))[0]
        if "content" in changed:
            changed["content_html"] = await self._render(changed["content"])
        visible_change = [k for k in changed if k not in _BOOKKEEPING]
        changed["updated_at"] = datetime.now(UTC)
        doc = await self.repo.update(current, changed)
        await self.events.updated(current, doc, visible_change)
        return (await self._with_authors([doc]))[0]

    async def delete(self, doc_id: str, viewer_id: str) -> None:
        doc = await self._own(doc_id, viewer_id)
        await self.repo.delete(doc.id)
        await self.events.deleted(doc)


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, tuple):
        return list(current) != list(new)
    return bool(current != new)
