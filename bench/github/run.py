"""GitHub syncs at scale: 500 users synced through the real fleet against the GitHub stand-in with
50 ms of added latency per GitHub call, then resynced with nothing changed.

    .venv/bin/python bench/github/run.py [--users 500] [--repos 6] [--latency-ms 50]

Starts its own engines and fleet in a temporary directory, makes `--users` accounts on the stand-in
and signs each in through the gateway (their first syncs run then, as a warm-up), changes every
account on GitHub (new repositories, new follower counts) so that nothing cached still holds, then
asks for a sync of every user at once (`POST /github/sync`) and times until the last job settled.
Then asks again with nothing changed: every GitHub call is conditional, and a 304 costs no quota.
Writes a Markdown report to bench/results/ and prints as its last line
`sync: N users/s, GitHub calls per sync: A, calls per unchanged resync that cost quota: B`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psutil
import psycopg

from codegram_devstack.fleet import RunningFleet, throwaway_fleet
from codegram_github.config import GitHubSettings

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = (
    "run",
    "users",
    "seconds",
    "users/s",
    "GitHub calls per sync",
    "calls that cost quota per sync",
    "304s",
    "failed",
    "most calls in flight per token",
    "POSTs answered 5xx (asked again)",
)
HEADER = "| " + " | ".join(COLUMNS) + " |\n|" + " --- |" * len(COLUMNS)
REDIRECT = "http://localhost:3000/auth/callback"


async def _sign_in(api: httpx.AsyncClient, login: str) -> dict[str, str]:
    started = (await api.get("/auth/github/authorize", params={"redirect_uri": REDIRECT})).json()
    back = await api.get(f"{started['authorize_url']}&{urlencode({'login': login})}", follow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    resp = await api.post("/auth/github/callback", json={"code": query["code"], "state": query["state"]})
    if resp.status_code != 200:
        raise RuntimeError(f"sign-in of {login}: {resp.status_code} {resp.text}")
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def _bounded(items: list[Any], fn: Any, concurrency: int) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(one(i) for i in items))


def _cpu_seconds(fleet: RunningFleet) -> dict[str, float]:
    """CPU seconds used so far by each process of the fleet and each engine (with its children)."""
    procs = {name: p.pid for name, p in fleet.processes.items()}
    procs.update({e.name: e.process.pid for e in fleet.fleet.engines})
    used: dict[str, float] = {}
    for name, pid in procs.items():
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0.0
        for proc in family:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        used[name] = total
    return used


class Jobs:
    """The sync jobs' states, read over one connection (a new one per poll would cost Postgres a
    process each time, on the cores the fleet is measured on)."""

    def __init__(self, fleet: RunningFleet) -> None:
        self.conn = psycopg.connect(fleet.fleet.admin_url(), autocommit=True)

    def settled(self, job_ids: list[str]) -> tuple[int, int]:
        """(settled, failed) among the jobs."""
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')),"
            " count(*) FILTER (WHERE status = 'failed')"
            " FROM github.sync_jobs WHERE id::text = ANY(%s)",
            (job_ids,),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def all_settled(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM github.sync_jobs WHERE status IN ('succeeded', 'failed')"
        ).fetchone()
        assert row is not None
        return int(row[0])


async def _wait(check: Any, want: int, limit_seconds: float) -> float:
    """Seconds until `check()` reaches `want` (polled every 200 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        if await asyncio.to_thread(check) >= want:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not {want} after {limit_seconds}s")


async def _sync_all(
    fleet: RunningFleet,
    jobs: Jobs,
    api: httpx.AsyncClient,
    auths: list[dict[str, str]],
    standin: httpx.AsyncClient,
) -> dict[str, Any]:
    since = time.time()
    cpu_before = _cpu_seconds(fleet)
    started = time.monotonic()

    refused = 0

    async def request(auth: dict[str, str]) -> str:
        nonlocal refused
        for _ in range(5):
            resp = await api.post("/github/sync", headers=auth)
            if resp.status_code not in (502, 503, 504):
                break
            refused += 1  # the machine too busy to answer in time: counted, and asked again
            await asyncio.sleep(1)
        resp.raise_for_status()
        return str(resp.json()["job_id"])

    job_ids = await _bounded(auths, request, 16)
    while True:
        settled, failed = await asyncio.to_thread(jobs.settled, job_ids)
        if settled >= len(job_ids):
            break
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu_after = _cpu_seconds(fleet)
    cpu = {n: cpu_after[n] - cpu_before.get(n, 0.0) for n in cpu_after}
    log = (await standin.get("/_standin/log", params={"since": since})).json()
    calls = log["calls"]
    return {
        "users": len(auths),
        "seconds": elapsed,
        "failed": failed,
        "calls": len(calls),
        "costly": sum(1 for c in calls if c.get("counted")),
        "not_modified": sum(1 for c in calls if c.get("status") == 304),
        "most_in_flight": log["most_in_flight"],
        "refused": refused,
        "cpu": cpu,
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "?"


async def run(users: int, repo_count: int, latency_ms: float) -> str:
    with throwaway_fleet() as fleet:
        standin = httpx.AsyncClient(base_url=f"http://127.0.0.1:{fleet.fleet.ports.standin}", timeout=60)
        api = httpx.AsyncClient(
            base_url=fleet.gateway_url + "/api/v1", timeout=60, limits=httpx.Limits(max_connections=64)
        )
        prefix = f"bench{os.getpid()}x"
        logins = [f"{prefix}{i:04d}" for i in range(users)]

        async def account(login: str, topic: str, followers: int) -> None:
            body = {"login": login, "repo_count": repo_count, "topics": [topic], "followers": followers}
            (await standin.post("/_standin/accounts", json=body)).raise_for_status()

        await _bounded(logins, lambda login: account(login, "before", 1), 32)
        began = time.monotonic()
        auths = await _bounded(logins, lambda login: _sign_in(api, login), 16)
        signing_in = time.monotonic() - began
        jobs = Jobs(fleet)
        await _wait(jobs.all_settled, users, 600)  # the first syncs: a warm-up

        # Everything changes on GitHub: new repositories (so new language URLs) and new counts.
        await _bounded(logins, lambda login: account(login, "after", 2), 32)
        delay = {"seconds": latency_ms / 1000}
        (await standin.post("/_standin/delay", json=delay)).raise_for_status()
        changed = await _sync_all(fleet, jobs, api, auths, standin)
        unchanged = await _sync_all(fleet, jobs, api, auths, standin)
        jobs.conn.close()
        await standin.aclose()
        await api.aclose()

    rate = changed["users"] / changed["seconds"]
    per_sync = changed["calls"] / changed["users"]
    costly_resync = unchanged["costly"] / unchanged["users"]
    today = dt.date.today().isoformat()
    busiest = sorted(changed["cpu"], key=lambda n: -changed["cpu"][n])
    cpu_rows = "\n".join(
        f"| {n} | {changed['cpu'][n]:.1f} | {changed['cpu'][n] / changed['users'] * 1000:.0f} | "
        f"{unchanged['cpu'].get(n, 0.0):.1f} |"
        for n in busiest
        if changed["cpu"][n] >= 0.5
    )
    cpu_total = sum(changed["cpu"].values())
    workers = GitHubSettings().sync_concurrency
    ceiling = workers / max(0.001, 3 * latency_ms / 1000)
    own_ms = changed["cpu"].get("github", 0.0) / changed["users"] * 1000
    own_ceiling = 1000 / max(own_ms, 0.001)
    rows = "\n".join(
        f"| {name} | {r['users']:.0f} | {r['seconds']:.1f} | {r['users'] / r['seconds']:.1f} | "
        f"{r['calls'] / r['users']:.2f} | {r['costly'] / r['users']:.2f} | {r['not_modified']:.0f} | "
        f"{r['failed']:.0f} | {r['most_in_flight']:.0f} | {r['refused']:.0f} |"
        for name, r in (("sync, everything changed", changed), ("resync, nothing changed", unchanged))
    )
    report = f"""# GitHub syncs, {today} (commit {_commit()})

Machine: {os.cpu_count()} cores, {platform.machine()}; the load generator, the GitHub stand-in,
Postgres, NATS, Redis and the fleet share the cores. Every sync is asked for through the gateway
(`POST /github/sync`) and runs on the github service's work queue (one replica, default settings).

{users} users, {repo_count} public repositories each, {latency_ms:.0f} ms added to every GitHub call
by the stand-in. Signing them in took {signing_in:.1f} s (their first syncs ran meanwhile, as a
warm-up). Then every account changed on GitHub (new repositories, new follower counts), and all
{users} users asked for a sync at once; then all asked again with nothing changed.

{HEADER}
{rows}

CPU seconds each process (with its children) used during the two runs, busiest first:

| process | CPU s, sync | CPU ms per sync | CPU s, unchanged resync |
| --- | --- | --- | --- |
{cpu_rows}

Reading: a sync is `/user`, one page of `/users/{{login}}/repos` (100 per page) and one
`/repos/{{owner}}/{{repo}}/languages` per repository: {2 + repo_count} calls here. The resync sends the
same calls, each with the `If-None-Match` of the ETag the last sync stored, and GitHub (the stand-in
does as GitHub does) answers 304, which costs no quota: the calls that cost quota per unchanged
resync should be 0.

What bounds throughput is not the {latency_ms:.0f} ms per call: a sync waits on three calls in sequence
(profile, listing, then the languages in parallel, at most GITHUB_CONCURRENCY_PER_TOKEN at once), so
the {workers} workers (SYNC_CONCURRENCY) of one replica could wait on roughly {ceiling:.0f} syncs a second. It
is the github process's own CPU: {own_ms:.0f} ms per sync (HTTP client, JSON, four short transactions,
the work queue's JetStream calls, the token from auth, logs), and one process uses one core at
most, so one replica does at most about {own_ceiling:.0f} syncs a second, less on cores others share
(the fleet used {cpu_total:.0f} CPU seconds in {changed["seconds"]:.0f} s of the changed run on
{os.cpu_count()} cores).
Add replicas to go faster: GitHub's limits are per token, so they do not tighten as users are added.
"""
    out = ROOT / "bench" / "results" / f"github-{today}.md"
    out.write_text(report)
    sys.stdout.write(report + f"\nwritten to {out.relative_to(ROOT)}\n")
    return (
        f"sync: {rate:.1f} users/s, GitHub calls per sync: {per_sync:.2f}, "
        f"calls per unchanged resync that cost quota: {costly_resync:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--repos", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    line = asyncio.run(run(args.users, args.repos, args.latency_ms))
    sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
