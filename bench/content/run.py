"""Content at scale: a million snippets, then listing, a deep page, filters, search and reads
through the real gateway, snippets and users services.

    .venv/bin/python bench/content/run.py [--snippets 1000000] [--requests 300] [--concurrency 8]

Starts its own engines and fleet in a temporary directory, seeds the snippets (see seed.py: a few
minutes for a million), checks on a sample that the seeded search vectors are exactly what the
service writes, then measures each scenario with `--concurrency` keep-alive connections after a
warm-up. Writes a Markdown report with `EXPLAIN ANALYZE` of the underlying queries to
bench/results/ and prints as its last line
`listing p95: A ms, deep page p95: B ms, search p95: C ms` (search: a selective word; the frequent
word's p95 is the line before it).

Beside the service it runs a reference handler (reference.py: the same list page in about forty
lines of Starlette, asyncpg and orjson) on the same database, as the gateway bench runs nginx, and
measures both with wrk in alternating rounds straight to each, not through the gateway; it prints
the service's list throughput as a ratio of the reference's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed import COMMON_WORD, RARE_WORD, seed

from codegram_content.keyset import list_cursor
from codegram_devstack.fleet import Fleet, RunningFleet, throwaway_fleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc
from codegram_snippets.repository import snippet_vector

ROOT = Path(__file__).resolve().parents[2]


async def _authors(fleet: RunningFleet, count: int) -> list[str]:
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        ids = []
        for i in range(count):
            reply = await stub.UpsertGitHubUser(
                users_pb2.UpsertGitHubUserRequest(
                    github_id=9_000_000 + i, login=f"author{i}", name=f"Author {i}"
                )
            )
            ids.append(reply.user.id)
        return ids


async def _measure(urls: list[str], requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str, record: bool) -> None:
            began = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if record:
                latencies.append(time.perf_counter() - began)

        async def worker(index: int, count: int, record: bool) -> None:
            for i in range(count):
                await one(urls[(index + i * concurrency) % len(urls)], record)

        await asyncio.gather(*(worker(w, 5, False) for w in range(concurrency)))  # warm-up
        statuses.clear()
        await asyncio.gather(*(worker(w, requests // concurrency, True) for w in range(concurrency)))
    q = statistics.quantiles(latencies, n=100)
    return {
        "n": len(latencies),
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "non_200": sum(n for s, n in statuses.items() if s != 200),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wrk(url: str, seconds: int, concurrency: int) -> float:
    """Requests per second of `url` over `concurrency` keep-alive connections (wrk)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


def _reference_ratio(running: RunningFleet, rounds: int, seconds: int, concurrency: int) -> dict:
    """Throughput of the service's first list page and of the reference handler's, same database,
    `rounds` alternating rounds each; the ratio of the medians."""
    if shutil.which("wrk") is None:
        raise RuntimeError("the reference comparison needs wrk")
    port = _free_port()
    reference = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("reference.py")), running.fleet.admin_url(), str(port)]
    )
    try:
        ref_url = f"http://127.0.0.1:{port}/api/v1/snippets?limit=20"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or reference.poll() is not None:
                    raise RuntimeError("the reference handler did not start") from None
                time.sleep(0.2)
        svc_url = running.http_url("snippets") + "/api/v1/snippets?limit=20"
        for url in (svc_url, ref_url):  # warm-up
            _wrk(url, 2, concurrency)
        service, ref = [], []
        for _ in range(rounds):
            service.append(_wrk(svc_url, seconds, concurrency))
            ref.append(_wrk(ref_url, seconds, concurrency))
    finally:
        reference.terminate()
        reference.wait(10)
    s, r = statistics.median(service), statistics.median(ref)
    return {"service": service, "reference": ref, "ratio": s / r}


def _check_vectors(admin_url: str) -> None:
    engine = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT title, description, code, tags, search::text AS stored "
                "FROM snippets.snippets TABLESAMPLE SYSTEM (0.01) LIMIT 20"
            )
        ).all()
        for row in rows:
            expected = conn.execute(
                sa.select(sa.cast(snippet_vector(row.title, row.description, row.code, row.tags), sa.Text))
            ).fetchone()[0]
            assert expected == row.stored, "the seed's search vectors differ from the service's"
    engine.dispose()


def _explain(admin_url: str, statements: dict[str, str]) -> dict[str, str]:
    plans = {}
    with psycopg.connect(admin_url) as conn:
        for name, sql in statements.items():
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
            plans[name] = "\n".join(r[0] for r in rows)
    return plans


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snippets", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reference-rounds", type=int, default=3)
    parser.add_argument("--reference-seconds", type=int, default=10)
    parser.add_argument("--report", type=Path, help="report file (default: bench/results/content-DATE.md)")
    args = parser.parse_args()
    # A stop (Ctrl-C or SIGTERM) unwinds like an error, so the fleet and engines are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    say = lambda text: sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")  # noqa: E731

    with throwaway_fleet() as running:
        say("creating authors")
        authors = asyncio.run(_authors(running, args.authors))
        began = time.perf_counter()
        seed(running.fleet.admin_url(), authors, args.snippets, log=say)
        seed_seconds = time.perf_counter() - began
        say(f"seeded {args.snippets} snippets in {seed_seconds:.0f}s")
        _check_vectors(running.fleet.admin_url())
        rows, plans = _scenarios(running, running.fleet, args)
        say("the service against the reference handler")
        versus = _reference_ratio(running, args.reference_rounds, args.reference_seconds, args.concurrency)

    report = _report(args, rows, plans, seed_seconds, versus)
    path = args.report or ROOT / "bench" / "results" / f"content-{dt.date.today().isoformat()}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
    sys.stdout.write(report + f"\nreport: {path}\n")
    listing = max(rows["list, first page"]["p95"], rows["list, filtered"]["p95"])
    deep = next(r for name, r in rows.items() if name.startswith("list, deep page"))
    search = rows["search, rare word"]["p95"]
    sys.stdout.write(
        f"list throughput: service {statistics.median(versus['service']):.0f} req/s, reference "
        f"{statistics.median(versus['reference']):.0f} req/s, "
        f"service/reference ratio: {versus['ratio']:.2f}\n"
    )
    sys.stdout.write(f"frequent-term search p95: {rows['search, common word']['p95']:.1f} ms\n")
    sys.stdout.write(
        f"listing p95: {listing:.1f} ms, deep page p95: {deep['p95']:.1f} ms, "
        f"search p95: {search:.1f} ms\n"
    )
    return 0


def _scenarios(running: RunningFleet, fleet: Fleet, args: argparse.Namespace) -> tuple[dict, dict]:
    gw = running.gateway_url + "/api/v1"
    depth = min(500_000, args.snippets // 2)
    with psycopg.connect(fleet.admin_url()) as conn:
        deep = conn.execute(
            "SELECT id, created_at FROM snippets.snippets WHERE visibility = 'public' "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (depth,),
        ).fetchone()
        assert deep is not None
        some_ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM snippets.snippets WHERE visibility = 'public' ORDER BY random() LIMIT 200"
            )
        ]
        common_tag = conn.execute(
            "SELECT t FROM snippets.snippets, unnest(tags) t "
            "GROUP BY t ORDER BY count(*) DESC LIMIT 1 OFFSET 3"
        ).fetchone()[0]
    deep_cursor = list_cursor(SimpleNamespace(id=deep[0], created_at=deep[1]), "recent")  # type: ignore[arg-type]
    scenarios = {
        "list, first page": [f"{gw}/snippets?limit=20"],
        "list, deep page": [f"{gw}/snippets?limit=20&cursor={deep_cursor}"],
        "list, filtered": [f"{gw}/snippets?limit=20&language=python&tag={common_tag}"],
        "list, popular": [f"{gw}/snippets?limit=20&sort=popular"],
        "search, rare word": [f"{gw}/search?type=snippet&q={RARE_WORD}"],
        "search, common word": [f"{gw}/search?type=snippet&q={COMMON_WORD}"],
        "get by id": [f"{gw}/snippets/{i}" for i in some_ids],
    }
    rows = {}
    for name, urls in scenarios.items():
        rows[name] = asyncio.run(_measure(urls, args.requests, args.concurrency))
        sys.stderr.write(f"{name}: {rows[name]}\n")
    plans = _explain(
        fleet.admin_url(),
        {
            "deep page": (
                "SELECT id FROM snippets.snippets WHERE visibility = 'public' AND (created_at, id) < "
                f"('{deep[1].isoformat()}', '{deep[0]}') ORDER BY created_at DESC, id DESC LIMIT 21"
            ),
            "common word candidates": (
                "SELECT id FROM snippets.snippets WHERE visibility = 'public' AND search @@ "
                f"to_tsquery('simple', '{COMMON_WORD}:*') ORDER BY created_at DESC, id DESC LIMIT 1000"
            ),
        },
    )
    rows[f"list, deep page ({depth:,} items in)"] = rows.pop("list, deep page")
    return rows, plans


def _report(args: argparse.Namespace, rows: dict, plans: dict, seed_seconds: float, versus: dict) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    lines = [
        f"# Content at scale, {dt.date.today().isoformat()} (commit {commit.stdout.strip() or 'unknown'})",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}; the load generator, Postgres, NATS, Redis "
        "and the fleet share the cores. Every request goes through the gateway.",
        f"{args.snippets:,} snippets by {args.authors} authors (seeded in {seed_seconds:.0f}s), "
        f"{args.requests} requests per scenario over {args.concurrency} connections after a warm-up.",
        "",
        "| scenario | requests | p50 ms | p95 ms | non-200 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['non_200']} |")
    lines += [
        "",
        "The first list page straight to the snippets service and to the reference handler "
        f"(bench/content/reference.py) on the same database, wrk -c{args.concurrency}, "
        f"{args.reference_seconds}s rounds in alternation:",
        "",
        "| | req/s per round |",
        "| --- | --- |",
        "| snippets service | " + ", ".join(f"{v:.0f}" for v in versus["service"]) + " |",
        "| reference handler | " + ", ".join(f"{v:.0f}" for v in versus["reference"]) + " |",
        "",
        f"Service/reference ratio (medians): {versus['ratio']:.2f}",
    ]
    lines += ["", "Query plans (EXPLAIN ANALYZE, run after the load):", ""]
    for name, plan in plans.items():
        lines += [f"{name}:", "", "```text", plan, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
