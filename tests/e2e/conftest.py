"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet, wait_ready

Collect = Callable[[Callable[[Msg], bool], float], Awaitable[list[Msg]]]


@pytest.fixture
async def subscribe(fleet: RunningFleet) -> AsyncIterator[Callable[[str], Awaitable[Collect]]]:
    """`collect = await subscribe(subject)` from now on; `await collect(match, quiet_seconds)` returns
    the matching messages once they stop arriving (at least one, within 10 seconds)."""
    nc = await nats.connect(fleet.fleet.nats_url)

    async def _subscribe(subject: str) -> Collect:
        sub = await nc.jetstream().pull_subscribe(
            subject,
            durable=f"e2e-{uuid.uuid4().hex[:8]}",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )

        async def collect(match: Callable[[Msg], bool], quiet_seconds: float = 1.0) -> list[Msg]:
            found: list[Msg] = []
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                try:
                    msgs = await sub.fetch(10, timeout=quiet_seconds)
                except nats.errors.TimeoutError:
                    if found:
                        return found
                    continue
                for msg in msgs:
                    await msg.ack()
                    if match(msg):
                        found.append(msg)
            return found

        return collect

    yield _subscribe
    await nc.close()


StartGateway = Callable[..., str]


@pytest.fixture
def start_gateway(fleet: RunningFleet, tmp_path: Path) -> Iterator[StartGateway]:
    """`url = start_gateway(RATE_LIMIT_ANONYMOUS="5/hour", ...)`: one more real gateway process in
    front of the running services, with its own settings (tests of limits, proxies and outages)."""
    processes: list[subprocess.Popen[bytes]] = []

    def _start(**env: str) -> str:
        spec = next(s for s in fleet.fleet.process_specs() if s.name == "gateway")
        port = free_port()
        log = tmp_path / f"gateway-{port}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                spec.command, env={**spec.env, "HTTP_PORT": str(port), **env}, stdout=out, stderr=out
            )
        processes.append(proc)
        exited = lambda _name: None if proc.poll() is None else log.read_text()  # noqa: E731
        assert not wait_ready({"gateway": port}, 30, exited), log.read_text()
        return f"http://127.0.0.1:{port}"

    yield _start
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
