"""The cost of a like, step by step: a small fleet kept running while the social service's code
changes, driven in rounds of likes pushed to open WebSockets through the gateway.

    .venv/bin/python bench/social/like_cost.py [--items 20000] [--users 1500] [--sockets 200]
                                               [--control /tmp/like-cost]

Seeds once, then waits for commands written to `<control>/cmd` (one line, taken and removed):
`likes N RATE` drives N new likes at RATE/s and prints, for that round, the CPU seconds each
process of the fleet spent per like (from /proc, so robust to a machine shared with other work)
and the like→push latencies; `restart` starts the social service again from the current code
after applying its revisions (the sockets reconnect); `feed N [deep]` reads N pages of the
heavy follower's feed one at a time; `quit` ends. Each round's line is also appended to `<control>/rounds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "content"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this run.py, not the content bench's

from run import FOLLOWED, _seed_social, _targets, _users, say
from seed import seed

from codegram_devstack.fleet import RunningFleet, throwaway_fleet, wait_ready

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


class Harness:
    def __init__(self, running: RunningFleet, args: argparse.Namespace) -> None:
        self.running = running
        self.args = args
        self.tokens: dict[str, str] = {}
        self.sockets: list[str] = []
        self.likers: list[str] = []
        self.targets: list[tuple[str, str]] = []
        self.used: set[tuple[str, str]] = set()
        self.sent: dict[tuple[str, str], float] = {}
        self.latencies: list[float] = []
        self.listeners: list[asyncio.Task[None]] = []
        self.rng = random.Random(11)
        self.heavy = ""

    async def feed(self, client: aiohttp.ClientSession, count: int, deep: bool) -> dict[str, Any]:
        """`count` pages of the heavy follower's feed, one at a time: the first page, or one 2,000
        items deep; CPU per page of each process and the latencies."""
        headers = {"Authorization": f"Bearer {self.tokens[self.heavy]}"}
        url = f"{self.running.gateway_url}/api/v1/feed"
        params: dict[str, str] = {}
        if deep:
            for _ in range(20):
                async with client.get(url, params={"limit": "100", **params}, headers=headers) as resp:
                    params = {"cursor": (await resp.json())["pagination"]["next_cursor"]}
        pids = {name: p.pid for name, p in self.running.processes.items() if p.poll() is None}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        latencies = []
        for _ in range(count):
            began = time.perf_counter()
            async with client.get(url, params=params, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - began)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        per = {name: round((after[name] - before[name]) / count * 1000, 2) for name in pids}
        q = statistics.quantiles(latencies, n=100)
        return {
            "feed": "deep" if deep else "first",
            "cpu_ms_per_page": {k: v for k, v in per.items() if v > 0.05},
            "p50": round(q[49] * 1000, 1),
            "p95": round(q[94] * 1000, 1),
            "load": os.getloadavg()[0],
        }

    async def open_sockets(self, session: aiohttp.ClientSession) -> None:
        for task in self.listeners:
            task.cancel()
        await asyncio.gather(*self.listeners, return_exceptions=True)
        ws_url = self.running.gateway_url.replace("http://", "ws://") + "/api/v1/ws"

        async def listen(user: str, ready: asyncio.Event) -> None:
            async with session.ws_connect(f"{ws_url}?access_token={self.tokens[user]}", heartbeat=None) as ws:
                ready.set()
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = message.json()
                    if frame.get("type") != "notification":
                        continue
                    data = frame["data"]
                    began = self.sent.pop((data["actor"]["id"], (data.get("subject") or {}).get("id")), None)
                    if began is not None:
                        self.latencies.append(time.perf_counter() - began)

        readies = []
        self.listeners = []
        for user in self.sockets:
            ready = asyncio.Event()
            readies.append(ready)
            self.listeners.append(asyncio.create_task(listen(user, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)

    async def likes(self, client: aiohttp.ClientSession, count: int, rate: float) -> dict[str, Any]:
        plan: list[tuple[str, str]] = []
        while len(plan) < count:
            _, item = self.rng.choice(self.targets)
            liker = self.rng.choice(self.likers)
            if (liker, item) not in self.used:
                self.used.add((liker, item))
                plan.append((liker, item))
        self.latencies = []
        statuses: dict[int, int] = {}
        pids = {name: p.pid for name, p in self.running.processes.items() if p.poll() is None}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before_pg = postgres_cpu()
        gw = self.running.gateway_url

        async def like(liker: str, item: str) -> None:
            self.sent[(liker, item)] = time.perf_counter()
            async with client.put(
                f"{gw}/api/v1/snippets/{item}/like", headers={"Authorization": f"Bearer {self.tokens[liker]}"}
            ) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        began = time.perf_counter()
        tasks = []
        for n, (liker, item) in enumerate(plan):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(like(liker, item)))
        await asyncio.gather(*tasks)
        driven = time.perf_counter() - began
        for _ in range(200):
            if len(self.latencies) >= count:
                break
            await asyncio.sleep(0.05)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        per_like = {name: round((after[name] - before[name]) / count * 1000, 2) for name in pids}
        per_like = {k: v for k, v in per_like.items() if v > 0.05}
        per_like["postgres"] = round((postgres_cpu() - before_pg) / count * 1000, 2)
        q = statistics.quantiles(self.latencies, n=100) if len(self.latencies) > 1 else [float("nan")] * 99
        self.sent.clear()
        return {
            "likes": count,
            "rate": round(count / driven, 1),
            "statuses": statuses,
            "pushed": len(self.latencies),
            "cpu_ms_per_like": per_like,
            "p50": round(q[49] * 1000, 1),
            "p95": round(q[94] * 1000, 1),
            "p99": round(q[98] * 1000, 1),
            "load": os.getloadavg()[0],
        }

    def restart_social(self) -> None:
        proc = self.running.processes["social"]
        proc.terminate()
        proc.wait(30)
        # The new code's revisions first, as the fleet does at its start.
        spec = next(s for s in self.running.fleet.process_specs() if s.name == "social")
        subprocess.run([*spec.command, "migrate"], env=spec.env, check=True, capture_output=True)
        self.running.launch("social")
        pending = wait_ready({"social": self.running.fleet.ports.http["social"]}, 90)
        assert not pending, self.running.log("social")[-3000:]


async def serve(harness: Harness, control: Path) -> None:
    cmd_file = control / "cmd"
    rounds = control / "rounds"
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as sockets,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client,
    ):
        await harness.open_sockets(sockets)
        say(f"{len(harness.sockets)} sockets open; social pid {harness.running.processes['social'].pid}")
        (control / "social.pid").write_text(str(harness.running.processes["social"].pid))
        while True:
            if not cmd_file.exists():
                await asyncio.sleep(0.2)
                continue
            command = cmd_file.read_text().split()
            cmd_file.unlink()
            if not command:
                continue
            if command[0] == "quit":
                return
            if command[0] == "restart":
                harness.restart_social()
                await harness.open_sockets(sockets)
                (control / "social.pid").write_text(str(harness.running.processes["social"].pid))
                say(f"social restarted, pid {harness.running.processes['social'].pid}")
                continue
            if command[0] == "feed":
                line = json.dumps(await harness.feed(client, int(command[1]), command[2:3] == ["deep"]))
                say(line)
                with rounds.open("a") as out:
                    out.write(line + "\n")
                continue
            if command[0] == "likes":
                label = " ".join(command[3:])
                result = await harness.likes(client, int(command[1]), float(command[2]))
                line = json.dumps({"label": label, **result})
                say(line)
                with rounds.open("a") as out:
                    out.write(line + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--control", type=Path, default=Path(tempfile.gettempdir()) / "like-cost")
    args = parser.parse_args()
    args.control.mkdir(parents=True, exist_ok=True)
    with throwaway_fleet() as running:
        users = asyncio.run(_users(running, args.users))
        admin = running.fleet.admin_url()
        seed(admin, users, args.items, log=say)
        followed = min(FOLLOWED, args.users - args.sockets - 100)
        _seed_social(admin, users[-1], users[args.sockets : args.sockets + followed], 800)
        harness = Harness(running, args)
        # Long-lived: the rounds go on for as long as the code is being changed.
        harness.tokens = {u: running.fleet.signing_key.mint(u, ttl=12 * 3600) for u in users}
        harness.sockets = users[: args.sockets]
        harness.likers = users[args.sockets : -1]
        harness.heavy = users[-1]
        harness.targets = _targets(admin, harness.sockets, 1000)
        say(f"ready: {len(harness.targets)} targets")
        asyncio.run(serve(harness, args.control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
