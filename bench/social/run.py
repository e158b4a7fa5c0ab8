"""Social at scale: likes pushed to open WebSockets, and the feed of a heavy follower, through the real
gateway and social service.

    .venv/bin/python bench/social/run.py [--items 1000000] [--users 10000] [--sockets 1000]
                                         [--rate 200] [--seconds 60]

Starts its own engines and fleet in a temporary directory; creates `--users` users; seeds `--items`
snippets by them (bench/content/seed.py) and the social service's read model of them; makes one
user follow 1,000 authors, with the home timeline fan-out on write would have built; connects
`--sockets` WebSocket clients (each a different author) through the gateway; then drives `--rate`
likes per second for `--seconds` from other users on those authors' public snippets, and measures
for each like the time from sending the request to its notification arriving on the author's
socket. Then measures the heavy follower's feed: the first page and a page 2,000 items deep.
Writes bench/results/social-<date>.md and prints as its last line
`like→push p99: A ms, feed p95: B ms`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "content"))

from seed import seed, settle_writes

from codegram_devstack.fleet import RunningFleet, throwaway_fleet
from codegram_kit.grpc.client import create_channel
from codegram_kit.runtime.stalls import settle_heap
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
FOLLOWED = 1000


def say(text: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")


async def _users(running: RunningFleet, count: int) -> list[str]:
    async with create_channel(running.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)

        async def one(i: int) -> str:
            reply = await stub.UpsertGitHubUser(
                users_pb2.UpsertGitHubUserRequest(
                    github_id=8_000_000 + i, login=f"member{i}", name=f"Member {i}"
                )
            )
            return str(reply.user.id)

        ids: list[str] = []
        for start in range(0, count, 100):
            ids += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 100))))
        return ids


def _seed_social(admin_url: str, heavy: str, followees: list[str], cap: int) -> None:
    """The read model of the seeded snippets, the heavy follower's follows and the timeline that
    fan-out on write would have built for them (benchmark set-up only: the superuser reads the
    snippets schema directly, as no service may)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO social.content (kind, id, author_id, visibility, title, created_at, updated_at) "
            "SELECT 'snippet', id, author_id, visibility, title, created_at, updated_at "
            "FROM snippets.snippets ON CONFLICT DO NOTHING"
        )
        with (
            conn.cursor() as cur,
            cur.copy("COPY social.follows (follower_id, followee_id) FROM STDIN") as copy,
        ):
            for followee in followees:
                copy.write_row((heavy, followee))
        conn.execute(
            "INSERT INTO social.timeline (user_id, created_at, item_id, kind, author_id) "
            "SELECT %s, created_at, id, kind, author_id FROM social.content "
            "WHERE author_id = ANY(%s::uuid[]) AND visibility = 'public' AND NOT deleted "
            "ORDER BY created_at DESC LIMIT %s",
            (heavy, followees, cap),
        )
        conn.execute("VACUUM ANALYZE social.content")
        conn.execute("VACUUM ANALYZE social.timeline")
        conn.execute("VACUUM ANALYZE social.follows")


def _targets(admin_url: str, authors: list[str], per_author: int) -> list[tuple[str, str]]:
    """(author, public snippet id) pairs to like."""
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT author_id::text, id::text FROM ("
            "  SELECT author_id, id, row_number() OVER (PARTITION BY author_id ORDER BY id) AS n"
            "  FROM social.content WHERE author_id = ANY(%s::uuid[]) AND visibility = 'public'"
            ") t WHERE n <= %s",
            (authors, per_author),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def _likes_to_pushes(
    gateway: str,
    tokens: dict[str, str],
    sockets: list[str],
    likers: list[str],
    args: argparse.Namespace,
    admin_url: str,
) -> dict[str, Any]:
    total = args.rate * args.seconds
    targets = _targets(admin_url, sockets, max(1, total // len(sockets) + 1))
    rng = random.Random(7)
    pairs: set[tuple[str, str]] = set()
    plan: list[tuple[str, str, str]] = []  # (liker, author, snippet)
    while len(plan) < total:
        author, item = rng.choice(targets)
        liker = rng.choice(likers)
        if (liker, item) not in pairs:
            pairs.add((liker, item))
            plan.append((liker, author, item))
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    # For --trace: each like's send time, request time and push time, and this process's own
    # pauses (garbage collections, event-loop lag), to tell the system's tail from the generator's.
    put_times: dict[tuple[str, str], float] = {}
    push_times: dict[tuple[str, str], float] = {}
    pauses: list[tuple[str, float, float]] = []
    statuses: dict[int, int] = {}
    ws_url = gateway.replace("http://", "ws://") + "/api/v1/ws"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        received = 0

        async def listen(user: str, ready: asyncio.Event) -> None:
            nonlocal received
            async with session.ws_connect(f"{ws_url}?access_token={tokens[user]}", heartbeat=None) as ws:
                ready.set()
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = message.json()
                    if frame.get("type") != "notification":
                        continue
                    data = frame["data"]
                    key = (data["actor"]["id"], (data.get("subject") or {}).get("id"))
                    began = sent.get(key)
                    if began is not None:
                        latencies.append(time.perf_counter() - began)
                        push_times[key] = latencies[-1]
                        received += 1

        readies = []
        listeners = []
        for start in range(0, len(sockets), 50):
            batch = []
            for user in sockets[start : start + 50]:
                ready = asyncio.Event()
                readies.append(ready)
                batch.append(ready)
                listeners.append(asyncio.create_task(listen(user, ready)))
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in batch)), 60)
        say(f"{len(sockets)} sockets open")

        api = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=api) as client:

            async def like(liker: str, item: str) -> None:
                sent[(liker, item)] = time.perf_counter()
                async with client.put(
                    f"{gateway}/api/v1/snippets/{item}/like",
                    headers={"Authorization": f"Bearer {tokens[liker]}"},
                ) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                put_times[(liker, item)] = time.perf_counter() - sent[(liker, item)]

            gc_began = [0.0]

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    gc_began[0] = time.perf_counter()
                else:
                    pauses.append((f"gc{info['generation']}", gc_began[0], time.perf_counter() - gc_began[0]))

            async def lag() -> None:
                while True:
                    at = time.perf_counter()
                    await asyncio.sleep(0.005)
                    late = time.perf_counter() - at - 0.005
                    if late > 0.01:
                        pauses.append(("loop", at, late))

            # The generator's own heap (users, tokens, the plan, 1,000 sockets) frozen out of the
            # collector's passes, as the fleet's processes do: a full pass over it stopped this
            # process for 100-150 ms, and the pushes it held up were counted as the system's.
            settle_heap()
            gc.callbacks.append(on_gc)
            lag_task = asyncio.create_task(lag())
            began = time.perf_counter()
            began_wall = time.time()
            tasks = []
            for n, (liker, _, item) in enumerate(plan):
                delay = began + n / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(like(liker, item)))
            await asyncio.gather(*tasks)
            driven = time.perf_counter() - began
            lag_task.cancel()
            gc.callbacks.remove(on_gc)
        for _ in range(100):  # the last pushes, for up to 5 s
            if received >= len(plan):
                break
            await asyncio.sleep(0.05)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    if args.trace:
        likes = [
            (
                round((sent[(liker, item)] - began) * 1000, 1),
                round(put_times.get((liker, item), -1) * 1000, 1),
                round(push_times.get((liker, item), -1) * 1000, 1),
            )
            for liker, _, item in plan
        ]
        pause_rows = [(kind, round((at - began) * 1000, 1), round(d * 1000, 1)) for kind, at, d in pauses]
        args.trace.write_text(json.dumps({"began": began_wall, "likes": likes, "pauses": pause_rows}))
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "likes": len(plan),
        "rate": len(plan) / driven,
        "non_200": sum(n for s, n in statuses.items() if s != 200),
        "statuses": dict(statuses),
        "pushed": len(latencies),
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "max": max(latencies) * 1000 if latencies else float("nan"),
    }


async def _feed(gateway: str, token: str, requests: int, concurrency: int) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        # A cursor 2,000 items deep, by paging as a client does.
        cursor = None
        for _ in range(20):
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            async with session.get(f"{gateway}/api/v1/feed", params=params, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                cursor = (await resp.json())["pagination"]["next_cursor"]
            assert cursor, "the feed ended before 2,000 items"
        rows = {}
        for name, params in (("feed, first page", {}), ("feed, 2,000 items deep", {"cursor": cursor})):
            latencies: list[float] = []
            bad = 0

            async def worker(
                count: int, record: bool, params: dict[str, str] = params, latencies: list[float] = latencies
            ) -> None:
                nonlocal bad
                for _ in range(count):
                    began = time.perf_counter()
                    async with session.get(f"{gateway}/api/v1/feed", params=params, headers=headers) as resp:
                        await resp.read()
                        bad += resp.status != 200
                    if record:
                        latencies.append(time.perf_counter() - began)

            await asyncio.gather(*(worker(5, False) for _ in range(concurrency)))
            bad = 0
            await asyncio.gather(*(worker(requests // concurrency, True) for _ in range(concurrency)))
            q = statistics.quantiles(latencies, n=100)
            rows[name] = {"n": len(latencies), "p50": q[49] * 1000, "p95": q[94] * 1000, "non_200": bad}
            say(f"{name}: {rows[name]}")
        return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--timeline-cap", type=int, default=800)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--trace", type=Path, help="write each like's send, request and push times and the generator's pauses"
    )
    parser.add_argument(
        "--report", type=Path, help="where to write the report (default: bench/results/social-<date>.md)"
    )
    args = parser.parse_args()
    assert args.users >= args.sockets + FOLLOWED + 100, "too few users for the sockets, followees and likers"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with throwaway_fleet() as running:
        say(f"creating {args.users} users")
        users = asyncio.run(_users(running, args.users))
        admin = running.fleet.admin_url()
        began = time.perf_counter()
        seed(admin, users, args.items, log=say)
        heavy, followees = users[-1], users[args.sockets : args.sockets + FOLLOWED]
        _seed_social(admin, heavy, followees, args.timeline_cap)
        settle_writes(admin)  # social's read models too, before the likes
        seed_seconds = time.perf_counter() - began
        say(f"seeded {args.items} items in {seed_seconds:.0f}s")
        tokens = {u: running.fleet.signing_key.mint(u) for u in users}
        sockets = users[: args.sockets]
        likers = users[args.sockets + FOLLOWED : -1]
        push = asyncio.run(_likes_to_pushes(running.gateway_url, tokens, sockets, likers, args, admin))
        say(f"likes: {push}")
        stalls = _fleet_stalls(running)
        feed = asyncio.run(_feed(running.gateway_url, tokens[heavy], args.requests, args.concurrency))

    report = _report(args, push, feed, seed_seconds, stalls)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = (args.report or results / f"social-{dt.date.today().isoformat()}.md").resolve()
    path.write_text(report)
    feed_p95 = max(r["p95"] for r in feed.values())
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    sys.stdout.write(report + f"\nreport: {shown}\n")
    sys.stdout.write(f"like→push p99: {push['p99']:.1f} ms, feed p95: {feed_p95:.1f} ms\n")
    return 0


def _fleet_stalls(running: RunningFleet) -> list[tuple[str, str, str, float]]:
    """The pauses the fleet's processes reported so far (codegram_kit.runtime.stalls warnings):
    (time, process, what, milliseconds), longest first."""
    found = []
    for name, path in running.logs.items():
        for line in path.read_text(errors="replace").splitlines():
            if '"codegram.stalls"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            found.append((record["time"], name, record["message"], float(record["stall_ms"])))
    return sorted(found, key=lambda stall: -stall[3])


def _report(
    args: argparse.Namespace,
    push: dict[str, Any],
    feed: dict[str, dict[str, float]],
    seeded: float,
    stalls: list[tuple[str, str, str, float]],
) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    lines = [
        f"# Social at scale, {dt.date.today().isoformat()} (commit {commit.stdout.strip() or 'unknown'})",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}; the load generator, Postgres, NATS, Redis "
        "and the fleet share the cores. Every request and socket goes through the gateway.",
        f"{args.items:,} snippets by {args.users:,} users (seeded in {seeded:.0f}s); one user follows "
        f"{FOLLOWED:,} authors (home timeline capped at {args.timeline_cap}).",
        "",
        f"Likes: {push['likes']:,} at {push['rate']:.0f}/s from other users on the public snippets of "
        f"{args.sockets:,} authors, each with a WebSocket open through the gateway; latency from sending "
        "the like to the notification arriving on the author's socket.",
        "",
        "| likes | non-200 | pushes received | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {push['likes']} | {push['non_200']} | {push['pushed']} | {push['p50']:.1f} | {push['p95']:.1f} "
        f"| {push['p99']:.1f} | {push['max']:.1f} |",
        "",
        f"Feed of the heavy follower, {args.requests} requests over {args.concurrency} connections "
        "after a warm-up:",
        "",
        "| scenario | requests | p50 ms | p95 ms | non-200 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in feed.items():
        lines.append(f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['non_200']} |")
    title = "Pauses over 100 ms the fleet's processes reported, from start to the end of the likes:"
    lines += ["", title, ""]
    if stalls:
        lines += ["| time | process | what | ms |", "| --- | --- | --- | --- |"]
        lines += [f"| {at} | {name} | {what} | {ms:.1f} |" for at, name, what, ms in stalls[:20]]
    else:
        lines.append("none")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
