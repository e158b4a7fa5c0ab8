"""The use cases the content services (snippets, docs) share; each service's service layer extends it.

Visibility (docs/architecture.md): public and unlisted items are readable by id by anyone, private
ones only by their author, and an item someone may not see is a 404, exactly like one that never
existed; changing or deleting someone else's item is a 403 only when it is visible. Authors come
from the service's read model of them (authors.py): the public list reads them in its own
statement, other reads in one batched read per page; those the model lacks are asked of the users
service in one batched call, made after the page's read or short transaction has ended: no
transaction or pooled connection is held while the users service answers. Counters and
`liked_by_me` belong to the social service: counters are columns kept from its events
(social_counts.py), `liked_by_me` comes from one batched call per page, made beside the authors'
call.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.social import SocialClient
from codegram_clients.users import Author, AuthorDirectory, GrpcAuthorDirectory, authors_of
from codegram_content.authors import LocalAuthorDirectory
from codegram_content.change_events import ContentEvents, EventKind, proto_timestamp
from codegram_content.items import Authored, ContentItem, SearchHit
from codegram_content.keyset import Order, decode_list_cursor, decode_search_cursor, next_page, search_cursor
from codegram_content.text_search import highlight_fragments, websearch_text
from codegram_kit.db.fast_reads import FastReads
from codegram_kit.db.ids import new_uuid7, parse_id
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import Forbidden, NotFound, ValidationFailed
from codegram_proto.codegram.social.v1 import social_pb2

ItemT = TypeVar("ItemT", bound=ContentItem)
FiltersT = TypeVar("FiltersT")
ResultT = TypeVar("ResultT")
# Protocols only take these (they are arguments, never results), hence contravariant.
ItemT_contra = TypeVar("ItemT_contra", bound=ContentItem, contravariant=True)
FiltersT_contra = TypeVar("FiltersT_contra", contravariant=True)

# Search ranks at most this many of the newest matches (see search_sql.ranked_page).
DEFAULT_CANDIDATE_CAP = 1000
# gRPC batch reads answer at most this many ids per call.
MAX_BATCH = 500


class ContentRepository(Protocol[ItemT, FiltersT_contra]):
    async def by_id(self, item_id: UUID, *, for_update: bool = False) -> ItemT | None: ...

    async def by_ids(self, ids: Sequence[UUID]) -> list[ItemT]: ...

    @property
    def body_field(self) -> str: ...

    async def search_vector_after(self, current: ItemT, changes: dict[str, Any]) -> Any | None: ...

    async def update(self, current: ItemT, changes: dict[str, Any], search: Any | None) -> ItemT: ...

    async def delete(self, item_id: UUID) -> None: ...

    # The same reads as statements, for the fast reads (codegram_kit.db.fast_reads).
    def item(self, row: Any) -> ItemT: ...

    def by_id_query(self, item_id: UUID) -> Any: ...

    def list_public_read(
        self,
        filters: FiltersT_contra,
        author_id: UUID | None,
        order: Order,
        after: tuple[Any, UUID] | None,
        limit: int,
    ) -> Any: ...

    def authors_in(self, rows: Sequence[Any]) -> dict[UUID, Author]: ...

    def list_by_author_query(
        self, author_id: UUID, *, public_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> Any: ...

    def search_read(
        self,
        websearch: str,
        filters: FiltersT_contra,
        after: tuple[float, datetime, UUID] | None,
        limit: int,
        candidate_cap: int,
    ) -> Any: ...

    def headlines_read(self, ids: Sequence[UUID], websearch: str) -> Any: ...

    def headlines_of(self, rows: Sequence[Any]) -> dict[UUID, dict[str, str]]: ...


class ContentEventSink(Protocol[ItemT_contra]):
    async def created(self, item: ItemT_contra) -> None: ...

    async def updated(self, before: ItemT_contra, after: ItemT_contra, changed: Sequence[str]) -> None: ...

    async def deleted(self, item: ItemT_contra) -> None: ...


def check_batch(ids: Sequence[str]) -> None:
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH} ids per call")


class ContentService(Generic[ItemT, FiltersT]):
    """Reads, ownership, deletion and search; the subclass names its repository and events, and
    creates and derives its own fields.

    The service is given a session outside any transaction; each use case runs its statements in
    one short transaction (`_transaction`) and asks peers (authors) before it or after it ends.
    """

    # Fields the service keeps for itself: changing only these is not an edit (no updated_at, no event).
    bookkeeping: frozenset[str] = frozenset()
    # The service's repository class (`SnippetRepository`), and what its events are called and carry.
    repository: Callable[[AsyncSession], ContentRepository[ItemT, FiltersT]]
    event_kind: EventKind

    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        reads: FastReads,
        authors: AuthorDirectory,
        social: SocialClient | None = None,
        *,
        candidate_cap: int = DEFAULT_CANDIDATE_CAP,
    ) -> None:
        self.session = session
        # The reads that are one statement (or two on one connection) and need no transaction.
        self.reads = reads
        self.social = social
        self.repo = self.repository(session)
        self.events: ContentEventSink[ItemT] = ContentEvents(self.event_kind, outbox, session)
        self.authors = authors
        self.candidate_cap = candidate_cap
        self._results: dict[tuple[str, Hashable], Any] = {}

    def _transaction(self) -> AbstractAsyncContextManager[Any]:
        """One unit of work: committed when the block ends, rolled back when it raises; the session
        takes a pooled connection at its first statement and gives it back at the end."""
        return self.session.begin()

    # -- reads ---------------------------------------------------------------------------------
    async def _with_authors(
        self, found: Sequence[ItemT], viewer: UUID | None = None, known: dict[UUID, Author] | None = None
    ) -> list[Authored[ItemT]]:
        # One batched call for the whole page, never one per row, for the authors not `known`
        # already (read with the page); the viewer's likes beside it (an anonymous page has none
        # to ask for: no tasks to gather then).
        authors = self._authors_of({i.author_id for i in found}, known or {})
        if viewer is None or self.social is None or not found:
            by_id, liked = await authors, set[str]()
        else:
            by_id, liked = await asyncio.gather(authors, self._liked(found, viewer))
        return [Authored(i, by_id[i.author_id], str(i.id) in liked) for i in found]

    async def _authors_of(self, ids: set[UUID], known: dict[UUID, Author]) -> dict[UUID, Author]:
        missing = ids.difference(known)
        if not missing:
            return known
        return {**known, **await authors_of(self.authors, missing)}

    async def _liked(self, found: Sequence[ItemT], viewer: UUID | None) -> set[str]:
        if viewer is None or self.social is None or not found:
            return set()
        ids = [str(i.id) for i in found]
        return await self.social.liked_among(str(viewer), self.event_kind.entity, ids) or set()

    async def _tell_social(self, item: ItemT, *, deleted: bool) -> None:
        """After the commit of a delete or of any change a reader sees: so that likes and comments
        of the item answer accordingly at once, and the feed shows no older version of it, not
        only once social has its event."""
        if self.social is None:
            return
        change = social_pb2.ContentChangedRequest(
            subject_type=self.event_kind.entity,
            id=str(item.id),
            author_id=str(item.author_id),
            visibility=item.visibility,
            title=item.title,
            created_at=proto_timestamp(item.created_at),
            updated_at=proto_timestamp(item.updated_at),
            deleted=deleted,
        )
        await self.social.content_changed(change)

    def _not_found(self) -> NotFound:
        return NotFound(f"{self.event_kind.entity} not found")

    async def _visible(self, raw_id: str, viewer: UUID | None, *, for_update: bool = False) -> ItemT:
        item_id = parse_id(raw_id)
        item = None
        if item_id is not None:
            item = await self.repo.by_id(item_id, for_update=for_update)
        if item is None or not item.visible_to(viewer):
            raise self._not_found()  # a private item is as absent as a missing one
        return item

    async def get(self, raw_id: str, viewer_id: str | None) -> Authored[ItemT]:
        viewer = parse_id(viewer_id)
        item_id = parse_id(raw_id)
        rows = [] if item_id is None else await self.reads.fetch(self.repo.by_id_query(item_id))
        item = self.repo.item(rows[0]) if rows else None
        if item is None or not item.visible_to(viewer):
            raise self._not_found()  # a private item is as absent as a missing one
        return (await self._with_authors([item], viewer))[0]

    async def get_many(self, raw_ids: Sequence[str]) -> list[ItemT]:
        """Whatever their visibility: gRPC callers enforce privacy with visibility and author."""
        ids = list(dict.fromkeys(i for raw in raw_ids if (i := parse_id(raw))))
        async with self._transaction():
            return await self.repo.by_ids(ids)

    async def list_public(
        self,
        filters: FiltersT,
        *,
        author_username: str | None,
        order: Order,
        cursor: str | None,
        limit: int,
        viewer_id: str | None = None,
    ) -> tuple[list[Authored[ItemT]], str | None]:
        after = decode_list_cursor(cursor, order)
        author_id = None
        if author_username is not None:
            author_id = await self.authors.find_id(author_username)
            if author_id is None:
                return [], None  # nobody by that name has public items
        read = self.repo.list_public_read(filters, author_id, order, after, limit + 1)
        rows = await self.reads.fetch(read)
        page, next_cursor = next_page([self.repo.item(r) for r in rows], limit, order)
        known = self.repo.authors_in(rows[: len(page)])
        return await self._with_authors(page, parse_id(viewer_id), known), next_cursor

    async def list_by_author(
        self, username: str, viewer_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Authored[ItemT]], str | None]:
        """Newest first. The author sees all of their items (unlisted and private included);
        everyone else sees the public ones only."""
        after = decode_list_cursor(cursor, "recent")
        author_id = await self.authors.find_id(username)
        if author_id is None:
            raise NotFound("user not found")
        viewer = parse_id(viewer_id)
        public_only = viewer != author_id
        query = self.repo.list_by_author_query(
            author_id, public_only=public_only, after=after, limit=limit + 1
        )
        found = [self.repo.item(r) for r in await self.reads.fetch(query)]
        page, next_cursor = next_page(found, limit, "recent")
        return await self._with_authors(page, viewer), next_cursor

    async def search(
        self, q: str, filters: FiltersT, *, cursor: str | None, limit: int
    ) -> list[SearchHit[ItemT]]:
        after = decode_search_cursor(cursor)
        websearch = websearch_text(q)
        if not websearch:
            return []
        read = self.repo.search_read(websearch, filters, after, limit, self.candidate_cap)
        async with self.reads.connection(plan_per_value=read.plan_per_value) as conn:
            ranked = [(self.repo.item(r), float(r["score"])) for r in await conn.fetch(read)]
            if not ranked:
                return []
            ids = [item.id for item, _ in ranked]
            headlines = self.repo.headlines_of(await conn.fetch(self.repo.headlines_read(ids, websearch)))
        authored = await self._with_authors([item for item, _ in ranked])
        # The search terms' texts, as the repository's headlines name them.
        highlighted = ("title", "description", self.repo.body_field)
        hits = []
        for (item, score), with_author in zip(ranked, authored, strict=True):
            marked = headlines.get(item.id, {})
            highlights = {f: highlight_fragments(marked.get(f, "")) for f in highlighted}
            hits.append(SearchHit(item, with_author.author, score, search_cursor(score, item), highlights))
        return hits

    # -- writes --------------------------------------------------------------------------------
    async def _create(
        self,
        author_id: str,
        fields: dict[str, Any],
        own: dict[str, Any],
        insert: Callable[[dict[str, Any]], Awaitable[ItemT]],
    ) -> Authored[ItemT]:
        """A new item of `author_id` from the sent `fields` and the service's `own` columns, inserted
        with its event in one transaction; the author is asked once it has committed."""
        uid = parse_id(author_id)
        if uid is None:
            raise NotFound("user not found")
        now = datetime.now(UTC)
        values = {
            "id": new_uuid7(int(now.timestamp() * 1000)),
            "author_id": uid,
            "title": fields["title"],
            "description": fields.get("description") or "",
            self.repo.body_field: fields[self.repo.body_field],
            **own,
            "tags": list(fields.get("tags") or []),
            "visibility": fields.get("visibility") or "public",
            "created_at": now,
            "updated_at": now,
        }
        async with self._transaction():
            created = await insert(values)
            await self.events.created(created)
        return (await self._with_authors([created]))[0]

    async def _own(self, raw_id: str, viewer_id: str, *, lock: bool) -> ItemT:
        """The item if the viewer wrote it: 404 when they cannot even see it, else 403; `lock`ed
        until the transaction ends."""
        viewer = parse_id(viewer_id)
        item = await self._visible(raw_id, viewer, for_update=lock)
        if item.author_id != viewer:
            raise Forbidden(f"only the author may change this {self.event_kind.entity}")
        return item

    async def _derive(self, current: ItemT, changes: dict[str, Any]) -> dict[str, Any]:
        """The service's own fields that follow from a change (a detected language, rendered HTML);
        slow work through `_worked_out`, since an update derives twice (before and under its lock)."""
        return changes

    async def _worked_out(self, kind: str, key: Hashable, work: Callable[[], Awaitable[ResultT]]) -> ResultT:
        """`await work()` once per `(kind, key)` for this service object, which lives for one request."""
        if (kind, key) not in self._results:
            self._results[kind, key] = await work()
        result: ResultT = self._results[kind, key]
        return result

    async def _prepare(self, current: ItemT, changes: dict[str, Any]) -> tuple[dict[str, Any], Any | None]:
        """What differs from `current` once derived, and the search vector it needs (None: unchanged)."""
        derived = await self._derive(current, dict(changes))
        changed = {k: v for k, v in derived.items() if _differs(getattr(current, k), v)}
        return changed, await self.repo.search_vector_after(current, changed)

    async def update(self, raw_id: str, viewer_id: str, fields: dict[str, Any]) -> Authored[ItemT]:
        """Only the fields sent change; `description: null` clears it, `tags: null` empties them.

        Everything that follows from the change (a detected language, rendered HTML, the search
        terms) is worked out before the row is locked, from the item as last committed, read in a
        short transaction of its own: that work can take a while, and holding the lock (and a
        pooled connection) meanwhile would queue every other write of the item and starve the
        pool. What someone else changed in between is worked out again under the lock.
        """
        changes = dict(fields)
        if "description" in changes and changes["description"] is None:
            changes["description"] = ""
        if "tags" in changes:
            changes["tags"] = list(changes["tags"] or [])
        async with self._transaction():
            seen = await self._own(raw_id, viewer_id, lock=False)
        await self._prepare(seen, changes)
        async with self._transaction():
            item = await self._own(raw_id, viewer_id, lock=True)
            # Against what is locked; what was worked out above is reused (`_worked_out`), so only
            # an input someone else changed in between costs anything here.
            changed, search = await self._prepare(item, changes)
            visible_change: list[str] = []
            if changed:
                visible_change = [k for k in changed if k not in self.bookkeeping]
                if visible_change:
                    changed["updated_at"] = datetime.now(UTC)
                before, item = item, await self.repo.update(item, changed, search)
                if visible_change:
                    await self.events.updated(before, item, visible_change)
        if visible_change:
            # Any change a reader sees, not only of visibility: social's feed keeps an item's list
            # fields per version, and shows none of a version older than the one it is told of.
            await self._tell_social(item, deleted=False)
        return (await self._with_authors([item], item.author_id))[0]

    async def delete(self, raw_id: str, viewer_id: str) -> None:
        async with self._transaction():
            item = await self._own(raw_id, viewer_id, lock=True)
            await self.repo.delete(item.id)
            await self.events.deleted(item)
        await self._tell_social(item, deleted=True)


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, tuple):
        return list(current) != list(new)
    return bool(current != new)


ServiceT = TypeVar("ServiceT")
PeerT = TypeVar("PeerT")
# The clients of a channel, built once: a gRPC stub per request and kind was a few percent of a
# list page's CPU. Keyed by the channel, so a channel the runtime opens anew gets new clients.
_clients: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()


def _peer(client: type[PeerT], runtime: ServiceRuntime, target: str) -> PeerT:
    channel = runtime.channel(target)
    built = _clients.setdefault(channel, {})
    if client not in built:
        built[client] = client(channel)  # type: ignore[call-arg]
    found: PeerT = built[client]
    return found


@asynccontextmanager
async def opened(
    runtime: ServiceRuntime,
    users_target: str,
    social_target: str,
    authors_table: sa.Table,
    build: Callable[[AsyncSession, Outbox, FastReads, AuthorDirectory, SocialClient], ServiceT],
) -> AsyncIterator[ServiceT]:
    """A content service for one request or call: a session that opens its transactions as the use
    cases need them, the outbox, the process's fast reads, the author directory (the service's
    `authors_table`, read through to the users service at `users_target`), and the social service
    (at `social_target`) for the viewer's likes and news of deletes."""
    authors = LocalAuthorDirectory(
        runtime.db, authors_table, _peer(GrpcAuthorDirectory, runtime, users_target)
    )
    social = _peer(SocialClient, runtime, social_target)
    session = runtime.db.sessions()
    try:
        yield build(session, runtime.outbox, runtime.db.fast, authors, social)
    finally:
        # Each use case's statements run in `_transaction`, which gives the connection back when
        # it ends; a session that holds none has nothing to close (and the reads, on the fast
        # reads, never open one: closing it anyway was a twentieth of a list page's CPU).
        if session.in_transaction():
            await session.close()
