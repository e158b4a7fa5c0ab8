"""Throughput and latency of `GET /api/v1/users/{username}`: straight to the users service, and
through the gateway, so the difference is the gateway's per-request cost.

    .venv/bin/python bench/gateway_users.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import aiohttp

from codegram_devstack.fleet import RunningFleet, throwaway_fleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc


async def _seed(fleet: RunningFleet) -> str:
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        await stub.UpsertGitHubUser(
            users_pb2.UpsertGitHubUserRequest(github_id=1, login="benchmark", name="B")
        )
    return "benchmark"


async def _load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(stop_at: float) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker(time.perf_counter() + 2) for _ in range(concurrency)))  # warm up
        latencies.clear()
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with throwaway_fleet() as running:
        username = asyncio.run(_seed(running))
        path = f"/api/v1/users/{username}"
        rows = {
            "users service, direct": asyncio.run(
                _load(running.http_url("users") + path, args.seconds, args.concurrency)
            ),
            "through the gateway": asyncio.run(
                _load(running.gateway_url + path, args.seconds, args.concurrency)
            ),
        }
    out = sys.stdout
    out.write(f"GET {path}, {args.concurrency} connections, {args.seconds:.0f}s after a 2s warm-up\n\n")
    out.write(
        "| target | requests | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- | --- |\n"
    )
    for name, r in rows.items():
        out.write(
            f"| {name} | {r['requests']:.0f} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['errors']:.0f} |\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
