"""Query plans of the home feed at scale: seeds a throwaway Postgres with the social schema, a
million items by 10,000 users, one user following 1,000 authors and one author followed by
everyone, builds timelines with the service's own code, then runs `EXPLAIN (ANALYZE, BUFFERS)`
on, and times, every statement the feed runs (the real statements of codegram_social.feed).

    .venv/bin/python bench/social/feed_plans.py [--items 1000000] [--out bench/results/...md]

No fleet: only Postgres, so the numbers are the database's share of a feed request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_devstack.engines import free_port, start_postgres
from codegram_kit.db.engine import Database, create_engine, to_async_url
from codegram_kit.db.fast_reads import Shaped
from codegram_social import models
from codegram_social.feed import FeedEntry, FeedReads, Position, TimelineRepository

USERS = 10_000
FOLLOWED = 1_000  # by the heavy follower
FOLLOWS_EACH = 20  # everyone else's followees, besides the star
CAP = 800
WITH_TIMELINES = 2_000  # users besides the heavy one whose timelines are built


def say(text: str) -> None:
    sys.stderr.write(f"[{datetime.now(UTC):%H:%M:%S}] {text}\n")


def seed(url: str, items: int) -> None:
    """Users 1..USERS; user 1 is the heavy follower (follows 2..FOLLOWED+1), user USERS the star
    (followed by everyone); items spread evenly over the authors, 30 seconds apart, 85% public,
    10% unlisted, 5% private, 2% deleted."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS social")
        conn.execute("CREATE TABLE bench_users (n int PRIMARY KEY, id uuid NOT NULL)")
        conn.execute(
            "INSERT INTO bench_users SELECT n, gen_random_uuid() FROM generate_series(1, %s) n", (USERS,)
        )
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    models.metadata.create_all(engine)
    engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        say(f"seeding {items:,} items")
        conn.execute(
            """
            INSERT INTO social.content (kind, id, author_id, visibility, title, created_at, updated_at,
                                        deleted, likes_count, comments_count)
            SELECT CASE WHEN g %% 10 < 7 THEN 'snippet' ELSE 'doc' END, gen_random_uuid(), u.id,
                   CASE WHEN g %% 20 < 17 THEN 'public' WHEN g %% 20 < 19 THEN 'unlisted' ELSE 'private' END,
                   'item ' || g, now() - g * interval '30 seconds', now() - g * interval '30 seconds',
                   g %% 50 = 0, 0, 0
            FROM generate_series(1, %(items)s) g
            JOIN bench_users u ON u.n = 1 + (g::bigint * 7919) %% %(users)s
            """,
            {"items": items, "users": USERS},
        )
        say("seeding follows")
        conn.execute(
            """
            INSERT INTO social.follows (follower_id, followee_id, created_at)
            SELECT h.id, u.id, now() FROM bench_users h, bench_users u
            WHERE h.n = 1 AND u.n BETWEEN 2 AND %(followed)s + 1
            """,
            {"followed": FOLLOWED},
        )
        conn.execute(
            """
            INSERT INTO social.follows (follower_id, followee_id, created_at)
            SELECT f.id, s.id, now() FROM bench_users f, bench_users s
            WHERE s.n = %(users)s AND f.n <> %(users)s
            """,
            {"users": USERS},
        )
        conn.execute(
            """
            INSERT INTO social.follows (follower_id, followee_id, created_at)
            SELECT f.id, e.id, now()
            FROM bench_users f, generate_series(1, %(each)s) k, bench_users e
            WHERE f.n > 1 AND e.n = 1 + (f.n * 31 + k * 977) %% %(users)s AND e.n <> f.n
            ON CONFLICT DO NOTHING
            """,
            {"each": FOLLOWS_EACH, "users": USERS},
        )
        conn.execute("VACUUM ANALYZE")


async def user_id(db: Database, n: int) -> uuid.UUID:
    async with db.unit_of_work() as session:
        found = await session.execute(sa.text("SELECT id FROM public.bench_users WHERE n = :n"), {"n": n})
        return uuid.UUID(str(found.scalar_one()))


async def build_timelines(db: Database, heavy: uuid.UUID) -> float:
    """Every seeded timeline through the follow backfill (an empty timeline is built whole);
    returns how long the heavy follower's took."""
    async with db.unit_of_work() as session:
        query = sa.text("SELECT id FROM public.bench_users WHERE n BETWEEN 2 AND :k")
        found = await session.execute(query, {"k": WITH_TIMELINES + 1})
        others = [uuid.UUID(str(i)) for i in found.scalars()]
    star = await user_id(db, USERS)
    started = time.perf_counter()
    async with db.unit_of_work() as session:
        await TimelineRepository(session).backfill(heavy, star, CAP)
    heavy_seconds = time.perf_counter() - started
    for i, user in enumerate(others):
        async with db.unit_of_work() as session:
            await TimelineRepository(session).backfill(user, star, CAP)
        if i % 500 == 499:
            say(f"timelines: {i + 1:,}")
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE social.timeline")
    return heavy_seconds


class Capture:
    """The statements SQLAlchemy sends while enabled, with their driver parameters."""

    def __init__(self, db: Database) -> None:
        self.enabled = False
        self.statements: list[tuple[str, Any]] = []
        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.enabled:
            self.statements.append((statement, params))


Step = Callable[[AsyncSession], Awaitable[Any]]


class SessionFeedReads(FeedReads):
    """The feed's own reads (the same statements, in the same order), sent through a session so
    that they run in the measured transaction and are captured for EXPLAIN."""

    def __init__(self, db: Database, session: AsyncSession) -> None:
        super().__init__(db)
        self.session = session

    async def _run(self, read: Shaped) -> list[Any]:
        result = await self.session.execute(read.build(), dict(read.values))  # type: ignore[call-overload]
        return list(result.mappings().all())


async def measure(
    db: Database, capture: Capture, name: str, step: Step, setup: Step | None = None, runs: int = 15
) -> dict[str, Any]:
    """Time `step` (each run in its own rolled-back transaction, after `setup`), and EXPLAIN ANALYZE
    the statements it sends, in the same state."""
    times: list[float] = []
    for _ in range(runs):
        async with db.sessions() as session:
            await session.begin()
            if setup:
                await setup(session)
            started = time.perf_counter()
            await step(session)
            times.append((time.perf_counter() - started) * 1000)
            await session.rollback()
    async with db.sessions() as session:
        await session.begin()
        if setup:
            await setup(session)
        capture.statements.clear()
        capture.enabled = True
        await step(session)
        capture.enabled = False
        statements = list(capture.statements)
        await session.rollback()
    plans: list[str] = []
    for statement, params in statements:
        async with db.sessions() as session:
            await session.begin()
            if setup:
                await setup(session)
            conn = await session.connection()
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            plans.append("\n".join(r[0] for r in result))
            await session.rollback()
    times.sort()
    return {
        "name": name,
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "plans": plans,
        "statements": [s for s, _ in statements],
    }


async def position_at(db: Database, heavy: uuid.UUID, depth: int, *, timeline: bool) -> Position:
    """The keyset position of the heavy follower's `depth`th item (in the timeline, or over all
    the followees' public items)."""
    query = (
        "SELECT created_at, item_id FROM social.timeline WHERE user_id = :u "
        "ORDER BY created_at DESC, item_id DESC OFFSET :d LIMIT 1"
        if timeline
        else "SELECT c.created_at, c.id FROM social.content c JOIN social.follows f "
        "ON f.followee_id = c.author_id AND f.follower_id = :u "
        "WHERE c.visibility = 'public' AND NOT c.deleted "
        "ORDER BY c.created_at DESC, c.id DESC OFFSET :d LIMIT 1"
    )
    async with db.unit_of_work() as session:
        row = (await session.execute(sa.text(query), {"u": heavy, "d": depth})).one()
        return row[0], row[1]


async def run(url: str, items: int) -> list[dict[str, Any]]:
    seed(url, items)
    db = Database(create_engine(to_async_url(url), "social", pool_size=4))
    heavy = await user_id(db, 1)
    star = await user_id(db, USERS)
    newcomer = await user_id(db, FOLLOWED + 2)  # someone the heavy follower does not follow yet
    say("building timelines")
    heavy_build = await build_timelines(db, heavy)
    say(f"the heavy follower's timeline (1,000 followees) built in {heavy_build * 1000:.0f} ms")
    capture = Capture(db)
    results: list[dict[str, Any]] = []
    inside = await position_at(db, heavy, 700, timeline=True)
    end = await position_at(db, heavy, CAP - 1, timeline=True)
    deep = items // 50  # 20,000 for a million items: far past any timeline
    far = await position_at(db, heavy, deep, timeline=False)
    page = 21  # a page of 20, and one more to know whether there is a next

    def feed_page(before: Position | None, reader: uuid.UUID = heavy) -> Step:
        return lambda s: SessionFeedReads(db, s).page(reader, before, page)

    results.append(await measure(db, capture, "feed, first page (heavy follower)", feed_page(None)))
    results.append(
        await measure(db, capture, "feed, page 700 items deep (inside the timeline)", feed_page(inside))
    )
    results.append(await measure(db, capture, "feed, page at the timeline's end (fallback)", feed_page(end)))
    results.append(await measure(db, capture, f"feed, page {deep:,} items deep (fallback)", feed_page(far)))
    # Someone who follows few authors: the recent window finds little of theirs, and the read goes
    # on one index range per followee.
    light = await user_id(db, 2)
    light_end = await position_at(db, light, CAP - 1, timeline=True)
    results.append(
        await measure(
            db,
            capture,
            f"feed, page at the timeline's end of a user following {FOLLOWS_EACH + 1} authors (fallback)",
            feed_page(light_end, light),
        )
    )

    async def naive(session: AsyncSession, before: Position | None = None) -> None:
        where = "" if before is None else "AND (c.created_at, c.id) < (:t, :i)"
        await session.execute(
            sa.text(
                "SELECT c.kind, c.id, c.author_id, c.created_at FROM social.content c "
                "WHERE c.author_id = ANY(ARRAY("
                "SELECT followee_id FROM social.follows WHERE follower_id = :u)) "
                f"AND c.visibility = 'public' AND NOT c.deleted {where} "
                "ORDER BY c.created_at DESC, c.id DESC LIMIT 21"
            ),
            {"u": heavy} | ({} if before is None else {"t": before[0], "i": before[1]}),
        )

    results.append(
        await measure(db, capture, "for comparison: per-request ANY(followees), first page", naive)
    )
    results.append(
        await measure(
            db, capture, f"for comparison: per-request ANY(followees), {deep:,} deep", lambda s: naive(s, far)
        )
    )

    fresh = FeedEntry("snippet", uuid.uuid4(), star, datetime.now(UTC))
    results.append(
        await measure(
            db,
            capture,
            "fan-out of a new item to 9,999 followers",
            lambda s: TimelineRepository(s).fan_out(fresh),
        )
    )
    ordinary = await user_id(db, 5_000)
    ordinary_item = FeedEntry("doc", uuid.uuid4(), ordinary, datetime.now(UTC))
    results.append(
        await measure(
            db,
            capture,
            "fan-out of a new item of an ordinary author",
            lambda s: TimelineRepository(s).fan_out(ordinary_item),
        )
    )

    async def fanned(session: AsyncSession) -> None:
        await TimelineRepository(session).fan_out(fresh)

    results.append(
        await measure(
            db,
            capture,
            "removal of an item from 9,999 timelines (delete, made private)",
            lambda s: TimelineRepository(s).remove_item(fresh.id),
            setup=fanned,
            runs=5,
        )
    )

    async def follow_newcomer(session: AsyncSession) -> None:
        await session.execute(sa.insert(models.follows).values(follower_id=heavy, followee_id=newcomer))

    results.append(
        await measure(
            db,
            capture,
            "follow: backfill into the heavy follower's full timeline, then its trim",
            lambda s: TimelineRepository(s).backfill(heavy, newcomer, CAP),
            setup=follow_newcomer,
        )
    )
    results.append(
        await measure(
            db,
            capture,
            "unfollow: an author's items out of one timeline",
            lambda s: TimelineRepository(s).remove_author(heavy, newcomer),
        )
    )

    async def sweep(session: AsyncSession) -> None:
        # What one run of the periodic trim (feed.trim_batch) does, inside this transaction.
        timelines = TimelineRepository(session)
        users = await timelines.users_after(None, 500)
        await timelines.trim_users(users, CAP)

    results.append(
        await measure(
            db, capture, "trim sweep, one run (500 users, each 1 over the cap)", sweep, setup=fanned, runs=3
        )
    )
    await db.dispose()
    return results


def report(results: list[dict[str, Any]], items: int) -> str:
    lines = [
        f"# Feed query plans at scale ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"`bench/social/feed_plans.py`: Postgres only, {items:,} items, {USERS:,} users, one following "
        f"{FOLLOWED:,} authors, one followed by everyone, timelines capped at {CAP} "
        f"({WITH_TIMELINES + 1:,} built). Times are of the statement(s) alone, in a rolled-back "
        "transaction, on the shared 2-core machine.",
        "",
        "| query | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {r['name']} | {r['p50']:.2f} | {r['p95']:.2f} |" for r in results]
    for r in results:
        lines += ["", f"## {r['name']}", ""]
        for statement, plan in zip(r["statements"], r["plans"], strict=True):
            lines += ["```sql", " ".join(statement.split()), "```", "", "```", plan, "```", ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pg = start_postgres(Path(tmp), free_port(), durable=False)
        try:
            results = asyncio.run(run(pg.url, args.items))
        finally:
            pg.stop()
    text = report(results, args.items)
    out = args.out or Path("bench/results") / f"feed-plans-{datetime.now(UTC):%Y-%m-%d}.md"
    out.write_text(text)
    for r in results:
        sys.stdout.write(f"{r['name']}: p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms\n")
    sys.stdout.write(f"written to {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
