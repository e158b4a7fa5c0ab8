"""Home timelines (API.md `GET /feed`): fanned out on write into capped per-user timelines, trimmed
by a periodic sweep, and read newest first with a fallback to the content read model beyond them.

What keeps the feed complete is one rule every write below preserves: a user's timeline holds
every public item of the people they follow that is at least as new as its oldest entry. A read
takes what it can from the timeline and continues past its end over `content` (the followees'
public items: first those among the newest public items of anyone, then one short index scan per
followee), so a capped or trimmed timeline, or one that never had old items, still pages through
everything without a repeat or a gap. Pages are keyset
positions on (created_at, id), so items added while someone pages land before their cursor.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.db.engine import Database
from codegram_kit.db.fast_reads import Shaped
from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.messaging.jobs import PeriodicTask
from codegram_kit.messaging.streams import STREAM_NAME
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import docs_pb2, snippets_pb2, social_pb2
from codegram_social.config import SocialSettings
from codegram_social.content import CONTENT_EVENTS, facts_of_event
from codegram_social.models import authors, content, follows, likes, timeline

FOLLOW_EVENTS = ["codegram.social.follow.created", "codegram.social.follow.deleted"]
# The consumer that keeps the content read model (content.py), and how long a follow's backfill
# waits for it to apply the content events published before the follow.
CONTENT_DIRECTORY = "social-content-directory"
CATCH_UP_SECONDS = 5.0
# How often each process sweeps timelines back to the cap, and how many users one run visits.
TRIM_INTERVAL_SECONDS = 30.0
TRIM_BATCH_USERS = 500

# How many of the newest public items before a position the read past the timeline looks through
# for the followees' before it reads each followee's own range: a page of 21 of someone who follows
# a tenth of the authors posting is about 210 items in, and one who follows few pays at most this
# many index entries (with a follows probe each) before the per-followee read.
RECENT_WINDOW = 500
# What a timeline holds (the primary key of `content` starts with it).
KINDS = ("snippet", "doc")
# A keyset position in the feed: (created_at, item id), newest first.
Position = tuple[datetime, UUID]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed page before it is hydrated."""

    kind: str  # "snippet" | "doc"
    id: UUID
    author_id: UUID
    created_at: datetime

    @property
    def position(self) -> Position:
        return self.created_at, self.id


@dataclass(frozen=True, slots=True)
class ItemEvent:
    """What a content event says that the fan-out needs (read from the event itself: the content
    read model may not have it yet)."""

    verb: str  # "created" | "updated" | "deleted"
    entry: FeedEntry
    visibility: str
    previous_visibility: str
    updated_at: datetime


def item_event(subject: str, data: bytes) -> ItemEvent:
    """The facts of a `codegram.snippets.snippet.*` or `codegram.docs.doc.*` event."""
    facts, verb = facts_of_event(subject, data)
    previous = ""
    if verb == "updated":
        updated = snippets_pb2.SnippetUpdated if facts.kind == "snippet" else docs_pb2.DocUpdated
        previous = updated.FromString(data).previous_visibility
    return ItemEvent(
        verb=verb,
        entry=FeedEntry(facts.kind, facts.id, facts.author_id, facts.created_at),
        visibility=facts.visibility,
        previous_visibility=previous,
        updated_at=facts.updated_at,
    )


_TIMELINE_KEY = sa.tuple_(timeline.c.created_at, timeline.c.item_id)
_CONTENT_KEY = sa.tuple_(content.c.created_at, content.c.id)
# Written into the statement, not sent as a value: a plan made for any value (the fast reads'
# prepared statements, after a few runs) can use the partial indexes only if it says 'public'.
_PUBLIC = sa.and_(content.c.visibility == sa.literal_column("'public'"), sa.not_(content.c.deleted))
# `kind = ANY(...)`, not `IN (...)`: the fast reads send no expanding lists; either way the item's
# primary key (kind, id) is probed by id alone.
_ANY_KIND = sa.func.any(sa.literal(list(KINDS), sa.ARRAY(sa.String)))


def _at(position: Position) -> sa.Tuple:
    return sa.tuple_(sa.literal(position[0], sa.DateTime(timezone=True)), sa.literal(position[1], sa.Uuid))


def newest_of_followees(user_id: Any, before: Any | None, limit: Any) -> sa.Select[Any]:
    """The newest public items of everyone `user_id` follows, before the position `before` (a
    (created_at, id) pair of SQL values): at most `limit` from each followee's range of the
    partial index (read from the index alone: it holds the position), then the `limit` newest of
    those, and only their kind from the table. Columns (user_id, created_at, id, kind, author_id)."""
    per_author = (
        sa.select(content.c.created_at, content.c.id)
        .where(content.c.author_id == follows.c.followee_id, _PUBLIC)
        .order_by(content.c.created_at.desc(), content.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        per_author = per_author.where(sa.tuple_(*before) > _CONTENT_KEY)
    recent = per_author.lateral("recent")
    newest = (
        sa.select(follows.c.followee_id.label("author_id"), recent.c.created_at, recent.c.id)
        .select_from(follows.join(recent, sa.true()))
        .where(follows.c.follower_id == user_id)
        .order_by(recent.c.created_at.desc(), recent.c.id.desc())
        .limit(limit)
        .subquery("newest")
    )
    return (
        sa.select(
            user_id.label("user_id"),
            newest.c.created_at,
            newest.c.id,
            content.c.kind,
            newest.c.author_id,
        )
        .select_from(newest)
        .join(content, sa.and_(content.c.kind == _ANY_KIND, content.c.id == newest.c.id))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
    )


def timeline_entries(user_id: Any, before: Any | None, limit: Any) -> sa.Select[Any]:
    """Newest first from the user's timeline, before the position `before` (SQL values); an author
    unfollowed a moment ago (whose removal is still on its way) is left out. Columns (kind, id,
    author_id, created_at)."""
    query = (
        sa.select(
            timeline.c.kind, timeline.c.item_id.label("id"), timeline.c.author_id, timeline.c.created_at
        )
        .join(
            follows,
            sa.and_(
                follows.c.follower_id == timeline.c.user_id, follows.c.followee_id == timeline.c.author_id
            ),
        )
        .where(timeline.c.user_id == user_id)
        .order_by(timeline.c.created_at.desc(), timeline.c.item_id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(sa.tuple_(*before) > _TIMELINE_KEY)
    return query


def recent_entries(user_id: Any, before: Any | None, limit: Any) -> sa.Select[Any]:
    """The followees' items among the RECENT_WINDOW newest public items of anyone before `before`,
    newest first (one range of `ix_content_public_recent`, read from the index alone, stopping at
    `limit` found). They are the first items of the read past the timeline's end, however many
    there are: every followee item newer than the window's oldest is in the window. Columns
    (kind, id, author_id, created_at)."""
    recent = (
        sa.select(content.c.kind, content.c.id, content.c.author_id, content.c.created_at)
        .where(_PUBLIC)
        .order_by(content.c.created_at.desc(), content.c.id.desc())
        .limit(RECENT_WINDOW)
    )
    if before is not None:
        recent = recent.where(sa.tuple_(*before) > _CONTENT_KEY)
    window = recent.subquery("window")
    followed = sa.exists().where(
        follows.c.follower_id == user_id, follows.c.followee_id == window.c.author_id
    )
    return (
        sa.select(window.c.kind, window.c.id, window.c.author_id, window.c.created_at)
        .where(followed)
        .order_by(window.c.created_at.desc(), window.c.id.desc())
        .limit(limit)
    )


def followee_entries(user_id: Any, before: Any | None, limit: Any) -> sa.Select[Any]:
    """Newest first over the content read model: the read past the timeline's end. Columns (kind,
    id, author_id, created_at)."""
    newest = newest_of_followees(user_id, before, limit).subquery("past")
    return sa.select(newest.c.kind, newest.c.id, newest.c.author_id, newest.c.created_at).order_by(
        newest.c.created_at.desc(), newest.c.id.desc()
    )


class TimelineRepository:
    """Every query of the home timelines (social's own `timeline`, `follows` and `content`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- writes (the feed-fanout consumer and the trim sweep) ------------------------------------
    async def fan_out(self, entry: FeedEntry) -> None:
        """Put a public item into the timelines of all its author's followers, in one statement.

        A timeline whose oldest entry is newer than the item does not get it: that would open a
        hole below the entries it has (the read finds the item past the timeline's end instead).
        A brand-new item is the newest there is, so this only ever skips an old item made public again.
        """
        mine = timeline.alias("mine")
        has_any = sa.exists().where(mine.c.user_id == follows.c.follower_id)
        reaches_it = sa.exists().where(
            mine.c.user_id == follows.c.follower_id,
            sa.tuple_(mine.c.created_at, mine.c.item_id) <= _at(entry.position),
        )
        rows = sa.select(
            follows.c.follower_id,
            sa.literal(entry.created_at, sa.DateTime(timezone=True)),
            sa.literal(entry.id, sa.Uuid),
            sa.literal(entry.kind, sa.String),
            sa.literal(entry.author_id, sa.Uuid),
        ).where(follows.c.followee_id == entry.author_id, sa.or_(sa.not_(has_any), reaches_it))
        statement = (
            insert(timeline)
            .from_select(["user_id", "created_at", "item_id", "kind", "author_id"], rows)
            .on_conflict_do_nothing()
        )
        await self.session.execute(statement)

    async def remove_item(self, item_id: UUID) -> None:
        """An item deleted or no longer public leaves every timeline."""
        await self.session.execute(sa.delete(timeline).where(timeline.c.item_id == item_id))

    async def remove_author(self, user_id: UUID, author_id: UUID) -> None:
        """An unfollow: the author's items leave that one timeline."""
        await self.session.execute(
            sa.delete(timeline).where(timeline.c.user_id == user_id, timeline.c.author_id == author_id)
        )

    async def _oldest(self, user_id: UUID) -> Position | None:
        query = (
            sa.select(timeline.c.created_at, timeline.c.item_id)
            .where(timeline.c.user_id == user_id)
            .order_by(timeline.c.created_at, timeline.c.item_id)
            .limit(1)
        )
        row = (await self.session.execute(query)).first()
        return None if row is None else (row.created_at, row.item_id)

    async def backfill(self, user_id: UUID, author_id: UUID, cap: int) -> None:
        """A follow: the followee's recent public items (as `content` has them now) join the timeline.

        An empty timeline is built whole from every followee's newest items. Otherwise only the
        followee's items down to the timeline's oldest entry come in (at most `cap`), and the
        timeline is cut back to `cap` at once, so its oldest entry never drops below an item it lacks.
        The caller first waits for the content read model to apply what was published before the
        follow (`await_content_before`); past that wait, an item it has not applied is missed.
        """
        oldest = await self._oldest(user_id)
        if oldest is None:
            rows = newest_of_followees(sa.literal(user_id, sa.Uuid), None, cap)
        else:
            still_follows = sa.exists().where(
                follows.c.follower_id == user_id, follows.c.followee_id == author_id
            )
            rows = (
                sa.select(
                    sa.literal(user_id, sa.Uuid),
                    content.c.created_at,
                    content.c.id,
                    content.c.kind,
                    content.c.author_id,
                )
                .where(
                    content.c.author_id == author_id,
                    _PUBLIC,
                    _at(oldest) <= _CONTENT_KEY,
                    still_follows,
                )
                .order_by(content.c.created_at.desc(), content.c.id.desc())
                .limit(cap)
            )
        statement = (
            insert(timeline)
            .from_select(["user_id", "created_at", "item_id", "kind", "author_id"], rows)
            .on_conflict_do_nothing()
        )
        await self.session.execute(statement)
        if oldest is not None:
            await self.trim_users([user_id], cap)

    async def trim_users(self, user_ids: list[UUID], cap: int) -> None:
        """Cut each of these timelines back to its `cap` newest entries."""
        if not user_ids:
            return
        await self.session.execute(
            sa.text(
                """
                DELETE FROM social.timeline t
                USING (
                    SELECT u.user_id, cut.created_at, cut.item_id
                    FROM unnest(CAST(:users AS uuid[])) AS u(user_id)
                    CROSS JOIN LATERAL (
                        SELECT created_at, item_id FROM social.timeline
                        WHERE user_id = u.user_id
                        ORDER BY created_at DESC, item_id DESC
                        OFFSET :cap LIMIT 1
                    ) AS cut
                ) AS beyond
                WHERE t.user_id = beyond.user_id
                  AND (t.created_at, t.item_id) <= (beyond.created_at, beyond.item_id)
                """
            ),
            {"users": user_ids, "cap": cap},
        )

    async def users_after(self, after: UUID | None, batch: int) -> list[UUID]:
        """The next `batch` users that have a timeline, in id order (a skip scan of the primary key)."""
        start = after or UUID(int=0)
        rows = await self.session.execute(
            sa.text(
                """
                WITH RECURSIVE users AS (
                    (SELECT user_id FROM social.timeline WHERE user_id > :start ORDER BY user_id LIMIT 1)
                    UNION ALL
                    SELECT (SELECT t.user_id FROM social.timeline t WHERE t.user_id > users.user_id
                            ORDER BY t.user_id LIMIT 1)
                    FROM users WHERE users.user_id IS NOT NULL
                )
                SELECT user_id FROM users WHERE user_id IS NOT NULL LIMIT :batch
                """
            ),
            {"start": start, "batch": batch},
        )
        return list(rows.scalars().all())

    # -- reads -----------------------------------------------------------------------------------
    async def superseded(self, event: ItemEvent) -> bool:
        """Whether the content read model already knows a later state of the item (a late or
        replayed event must not put back what a newer one took out)."""
        query = sa.select(content.c.updated_at, content.c.deleted).where(
            content.c.kind == event.entry.kind, content.c.id == event.entry.id
        )
        row = (await self.session.execute(query)).first()
        return row is not None and (row.deleted or row.updated_at > event.updated_at)


def hydrated(entries: sa.Subquery, reader: Any) -> sa.Select[Any]:
    """`entries` (kind, id, author_id, created_at) with all a page shows of each, from social's own
    tables: the item as the content read model has it (NULL columns when it has not heard of it),
    its counters, whether `reader` likes it, and its author's profile (NULL when not held)."""
    e = entries.c
    liked = sa.exists().where(likes.c.user_id == reader, likes.c.kind == e.kind, likes.c.subject_id == e.id)
    c = content.c
    return (
        sa.select(
            e.kind,
            e.id,
            e.author_id,
            e.created_at,
            c.author_id.label("owner_id"),
            c.visibility,
            c.deleted,
            c.title,
            c.updated_at,
            c.description,
            c.tags,
            c.language,
            c.code_preview,
            c.slug,
            c.listed_at,
            c.likes_count,
            c.comments_count,
            liked.label("liked"),
            authors.c.username,
            authors.c.full_name,
            authors.c.avatar_url,
        )
        .select_from(
            entries.outerjoin(content, sa.and_(c.kind == e.kind, c.id == e.id)).outerjoin(
                authors, authors.c.id == e.author_id
            )
        )
        .order_by(e.created_at.desc(), e.id.desc())
    )


def _page_read(source: str, with_before: bool) -> sa.Select[Any]:
    user_id = sa.bindparam("user_id", type_=sa.Uuid)
    before = None
    if with_before:
        before = (
            sa.bindparam("before_at", type_=sa.DateTime(timezone=True)),
            sa.bindparam("before_id", type_=sa.Uuid),
        )
    limit = sa.bindparam("limit", type_=sa.Integer)
    build = {"timeline": timeline_entries, "recent": recent_entries, "followees": followee_entries}[source]
    return hydrated(build(user_id, before, limit).subquery("entries"), user_id)


class FeedReads:
    """A feed page's reads, each one statement on the kit's fast reads (no session, no
    transaction): the timeline's entries, or the followees' items past its end, with everything
    the page shows of them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _fetch(self, source: str, user_id: UUID, before: Position | None, limit: int) -> list[Any]:
        values: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if before is not None:
            values |= {"before_at": before[0], "before_id": before[1]}
        with_before = before is not None
        read = Shaped(("social.feed", source, with_before), lambda: _page_read(source, with_before), values)
        return await self._run(read)

    async def _run(self, read: Shaped) -> list[Any]:
        return await self.db.fast.fetch(read)

    async def page(
        self, user_id: UUID, before: Position | None, limit: int, *, past_timeline: bool = False
    ) -> tuple[list[Any], bool]:
        """Up to `limit` rows (`hydrated`'s) before `before`: the timeline's, then the followees'
        items past it; and whether the timeline has nothing left after them. With
        `past_timeline` (an earlier page found its end above `before`), the timeline is not read:
        past its end the followees' items are all read over the content read model anyway, so an
        entry added below the position meanwhile (a follow's backfill) is found there too."""
        found = [] if past_timeline else await self._fetch("timeline", user_id, before, limit)
        past = past_timeline or len(found) < limit
        # Past the timeline's end: the followees' items among the newest public items first (a
        # page for whoever follows a good share of the authors posting), then one index range
        # per followee for the rest.
        for source in ("recent", "followees"):
            if len(found) == limit:
                break
            after = (found[-1]["created_at"], found[-1]["id"]) if found else before
            found += await self._fetch(source, user_id, after, limit - len(found))
        return found, past


async def _content_applied(js: JetStreamContext, sequence: int) -> bool:
    """Whether the content read model has applied every content event before stream `sequence`:
    its consumer's ack floor is past it, or it has nothing left to do."""
    try:
        info = await js.consumer_info(STREAM_NAME, CONTENT_DIRECTORY)
    except Exception:
        return True  # cannot tell: backfill from what there is
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    return floor >= sequence - 1 or not (info.num_pending or info.num_ack_pending)


async def await_content_before(js: JetStreamContext, msg: Msg) -> None:
    """Wait, at most CATCH_UP_SECONDS, until the content read model has applied the content events
    published before `msg`: the consumers run side by side, and a follow right after the followee
    posted would otherwise backfill without the post (the fan-out saw it before the follow existed)."""
    try:
        sequence = msg.metadata.sequence.stream
    except Exception:
        return  # a replayed dead letter carries no stream position
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_SECONDS
    while loop.time() < deadline:
        if await _content_applied(js, sequence):
            return
        await asyncio.sleep(0.05)


def _settings(runtime: ServiceRuntime) -> SocialSettings:
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    return settings


def feed_fanout(runtime: ServiceRuntime) -> IdempotentConsumer:
    """Keeps the home timelines from the content events and the follow events."""
    cap = _settings(runtime).feed_timeline_cap
    js = runtime.js
    if js is None:
        raise RuntimeError("consumers are built once messaging has started")

    async def handle(session: AsyncSession, msg: Msg) -> None:
        timelines = TimelineRepository(session)
        if msg.subject in FOLLOW_EVENTS:
            created = msg.subject.endswith(".created")
            message = (social_pb2.FollowCreated if created else social_pb2.FollowDeleted).FromString(msg.data)
            follower, followee = UUID(message.follow.follower_id), UUID(message.follow.followee_id)
            if created:
                await await_content_before(js, msg)
                await timelines.backfill(follower, followee, cap)
            else:
                await timelines.remove_author(follower, followee)
            return
        event = item_event(msg.subject, msg.data)
        if event.verb == "deleted" or event.visibility != "public":
            if event.verb == "deleted" or event.previous_visibility == "public":
                await timelines.remove_item(event.entry.id)
            return
        # Public now: new, or newly public (an edit of an item that stays public changes nothing here).
        newly_public = event.verb == "created" or event.previous_visibility != "public"
        if newly_public and not await timelines.superseded(event):
            await timelines.fan_out(event.entry)

    return runtime.consumer(
        "feed-fanout",
        CONTENT_EVENTS + FOLLOW_EVENTS,
        handle,
    )


class TimelineTrim:
    """The periodic sweep that cuts timelines back to the cap, a batch of users per run: the
    fan-out only ever inserts, so no post costs a delete per follower."""

    def __init__(self) -> None:
        self.after: UUID | None = None

    async def run(self, runtime: ServiceRuntime) -> None:
        self.after = await trim_batch(runtime.db, _settings(runtime).feed_timeline_cap, self.after)


async def trim_batch(
    db: Database, cap: int, after: UUID | None, batch: int = TRIM_BATCH_USERS
) -> UUID | None:
    """Trim the next `batch` timelines after `after`; where the next run starts (None: from the top)."""
    async with db.unit_of_work() as session:
        timelines = TimelineRepository(session)
        users = await timelines.users_after(after, batch)
        await timelines.trim_users(users, cap)
    return users[-1] if len(users) == batch else None


TRIM_TASK: PeriodicTask[ServiceRuntime] = PeriodicTask("feed-trim", TRIM_INTERVAL_SECONDS, TimelineTrim().run)


# -- cursors ---------------------------------------------------------------------------------------
