"""One fault at a time under a steady write load: afterwards every acknowledged write is there once,
every derived count equals a recount, nothing answered 500, and refusals were fast 503s."""

from __future__ import annotations

import asyncio
import signal
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from codegram_devstack.e2e import member
from codegram_devstack.fleet import SERVICES, RunningFleet
from codegram_kit.messaging.outbox import FAULT_SETTING, KILL_AFTER_PUBLISH, KILL_BEFORE_PUBLISH
from tests.chaos import results
from tests.chaos.check import Findings, check_writer
from tests.chaos.load import Gateways, Load, Tally, Writer

WRITERS = 8
RATE_PER_WRITER = 4.0  # writes per second each: ~30 a second in all
WARM_UP_SECONDS = 4.0
AFTER_SECONDS = 4.0
HEALTHY_TIMEOUT = 90.0

Fault = Callable[[RunningFleet], Awaitable[str]]


async def _wait_healthy(fleet: RunningFleet, extra: dict[str, str]) -> None:
    """Every process ready with every dependency "ok" (not merely degraded)."""
    urls = {name: fleet.http_url(name) for name in SERVICES} | {"gateway": fleet.gateway_url} | extra
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as client:
        while urls:
            for name, url in list(urls.items()):
                try:
                    resp = await client.get(f"{url}/readyz")
                except httpx.HTTPError:
                    continue
                if resp.status_code == 200 and resp.json()["status"] == "ok":
                    del urls[name]
            assert time.monotonic() < deadline, f"not healthy after {HEALTHY_TIMEOUT}s: {sorted(urls)}"
            await asyncio.sleep(0.2)


async def _crash_in_relay(fleet: RunningFleet, service: str, fault: str) -> str:
    """Replace the service by one whose outbox relay SIGKILLs its own process at its first batch
    of events (written by the load through it), then start it again as it normally runs."""
    current = fleet.processes[service]
    current.terminate()
    await asyncio.to_thread(current.wait, 60)  # a graceful stop drains NATS too
    faulty = fleet.launch(service, **{FAULT_SETTING: fault})
    try:
        code = await asyncio.to_thread(faulty.wait, 90)
    finally:
        if faulty.poll() is None:  # no event reached its relay: not the fault asked for
            faulty.kill()
    assert code == -signal.SIGKILL, f"{service} exited with {code}:\n{fleet.log(service)[-3000:]}"
    assert "outbox fault injected" in fleet.log(service)
    fleet.launch(service)
    return f"{service} SIGKILLed {fault.replace('kill-', '')}"


async def _snippets_before_publish(fleet: RunningFleet) -> str:
    return await _crash_in_relay(fleet, "snippets", KILL_BEFORE_PUBLISH)


async def _docs_after_publish(fleet: RunningFleet) -> str:
    return await _crash_in_relay(fleet, "docs", KILL_AFTER_PUBLISH)


async def _social_before_publish(fleet: RunningFleet) -> str:
    return await _crash_in_relay(fleet, "social", KILL_BEFORE_PUBLISH)


async def _nats_stopped(fleet: RunningFleet) -> str:
    await asyncio.to_thread(fleet.fleet.engine("nats").stop)
    await asyncio.sleep(10)
    await asyncio.to_thread(fleet.fleet.restart_engine, "nats")
    return "NATS stopped for 10 s"


async def _postgres_restarted(fleet: RunningFleet) -> str:
    await asyncio.to_thread(fleet.fleet.restart_engine, "postgres")
    return "Postgres restarted"


async def _redis_killed(fleet: RunningFleet) -> str:
    await asyncio.to_thread(fleet.fleet.engine("redis").kill)
    await asyncio.sleep(5)
    await asyncio.to_thread(fleet.fleet.restart_engine, "redis")
    return "Redis killed for 5 s"


async def _gateway_killed(fleet: RunningFleet) -> str:
    gateway = fleet.processes["gateway"]
    gateway.kill()
    await asyncio.to_thread(gateway.wait, 10)
    await asyncio.sleep(3)
    fleet.launch("gateway")
    return "a gateway SIGKILLed for 3 s"


FAULTS: dict[str, Fault] = {
    "snippets-before-publish": _snippets_before_publish,
    "docs-after-publish": _docs_after_publish,
    "social-before-publish": _social_before_publish,
    "nats": _nats_stopped,
    "postgres": _postgres_restarted,
    "redis": _redis_killed,
    "gateway": _gateway_killed,
}


def _others(tally: Tally) -> str:
    shown = {k: v for k, v in sorted(tally.statuses.items()) if not k.startswith("2") and k != "503"}
    return ", ".join(f"{k}: {v}" for k, v in shown.items()) or "none"


def _record(what: str, tally: Tally, findings: Findings, longest_down: float) -> None:
    longest_503 = max(tally.refusal_seconds, default=0.0)
    results.LINES.append(
        f"{what}: accepted {tally.accepted}, lost {findings.lost}, duplicated {findings.duplicated}, "
        f"500s {tally.server_errors}, 503s {len(tally.refusal_seconds)} (slow {tally.slow_refusals}, "
        f"longest {longest_503 * 1000:.0f} ms), other {_others(tally)}, "
        f"longest unavailability {longest_down:.1f} s"
    )
    results.ROWS.append(
        f"| {what} | {tally.accepted} | {findings.lost} | {findings.duplicated} | {tally.server_errors} "
        f"| {_others(tally)} | {len(tally.refusal_seconds)} ({tally.slow_refusals}) "
        f"| {longest_503 * 1000:.0f} ms | {longest_down:.1f} s |\n"
    )


@pytest.fixture
async def restored(fleet: RunningFleet, second_gateway: str) -> AsyncIterator[None]:
    """Whatever a fault left stopped is started again, so one failure does not fail the rest."""
    yield
    for engine in list(fleet.fleet.engines):
        if engine.process.poll() is not None:
            await asyncio.to_thread(fleet.fleet.restart_engine, engine.name)
    for name, proc in list(fleet.processes.items()):
        if proc.poll() is not None:
            fleet.launch(name)
    await _wait_healthy(fleet, {"gateway-2": second_gateway})


@pytest.mark.timeout(420)
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_fault_under_load_loses_and_doubles_nothing(
    fault: str, fleet: RunningFleet, second_gateway: str, restored: None
) -> None:
    writers = [Writer(await member(fleet, "chaos")) for _ in range(WRITERS)]
    gateways = Gateways([fleet.gateway_url, second_gateway])
    load = Load(gateways, writers, RATE_PER_WRITER, seed=zlib.crc32(fault.encode()))
    load.start()
    try:
        await asyncio.sleep(WARM_UP_SECONDS)
        what = await FAULTS[fault](fleet)
        await _wait_healthy(fleet, {"gateway-2": second_gateway})
        await asyncio.sleep(AFTER_SECONDS)
    finally:
        await load.stop()
        await gateways.aclose()
    findings = Findings()
    async with httpx.AsyncClient(base_url=f"{fleet.gateway_url}/api/v1", timeout=30) as client:
        for writer in writers:
            await check_writer(client, writer, findings)
    tally = load.tally
    _record(what, tally, findings, max(w.longest_down for w in writers))

    assert not tally.unexpected, tally.unexpected[:5]
    assert findings.lost == 0 and findings.duplicated == 0, findings.notes[:20]
    assert tally.server_errors == 0, _others(tally)
    assert tally.slow_refusals == 0, tally.slow[:10]
