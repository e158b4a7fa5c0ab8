"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from codegram_devstack.fleet import RunningFleet

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
