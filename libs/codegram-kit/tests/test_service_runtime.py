"""A service process's messaging starts without NATS, reports it degraded, catches up when NATS
comes, and stops promptly either way (real Postgres, a NATS of its own)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from codegram_devstack import engines as devstack_engines
from codegram_devstack.engines import free_port
from codegram_devstack.fleet import Fleet
from codegram_kit.db.engine import create_engine, schema_metadata
from codegram_kit.messaging.outbox import messaging_tables
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.runtime.readiness import evaluate
from codegram_kit.runtime.settings import ServiceSettings


@pytest.fixture
async def runtime_parts(engines: Fleet):
    name = f"rt_{uuid.uuid4().hex[:10]}"
    metadata = schema_metadata(name)
    outbox, processed = messaging_tables(metadata)
    engine = create_engine(engines.admin_url(), name)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return name, metadata, outbox, processed


def _runtime(engines: Fleet, parts, nats_url: str) -> ServiceRuntime:
    name, metadata, outbox, processed = parts
    settings = ServiceSettings(
        service_name=name,
        database_url=engines.admin_url(),
        db_schema=name,
        nats_url=nats_url,
        outbox_poll_interval_seconds=0.05,
    )
    return ServiceRuntime(settings, metadata=metadata, outbox_table=outbox, processed_table=processed)


async def test_messaging_starts_without_nats_and_connects_when_it_comes(
    engines: Fleet, runtime_parts, tmp_path: Path
) -> None:
    port = free_port()
    runtime = _runtime(engines, runtime_parts, f"nats://127.0.0.1:{port}")
    await asyncio.wait_for(runtime.start_messaging([]), 1)  # does not wait for NATS
    try:
        ready, body = await evaluate(runtime.readiness())
        assert ready
        assert body == {"status": "degraded", "checks": {"database": "ok", "nats": "degraded"}}

        nats = await asyncio.to_thread(devstack_engines.start_nats, tmp_path / "nats", port)
        try:
            for _ in range(100):
                ready, body = await evaluate(runtime.readiness())
                if body["status"] == "ok":
                    break
                await asyncio.sleep(0.1)
            assert body == {"status": "ok", "checks": {"database": "ok", "nats": "ok"}}
        finally:
            await asyncio.wait_for(runtime.stop_messaging(), 10)
            await asyncio.to_thread(nats.stop)
    finally:
        await runtime.db.dispose()


async def test_a_runtime_still_waiting_for_nats_stops_at_once(engines: Fleet, runtime_parts) -> None:
    runtime = _runtime(engines, runtime_parts, f"nats://127.0.0.1:{free_port()}")
    await runtime.start_messaging([])
    await asyncio.sleep(1.5)  # a few connection attempts
    loop = asyncio.get_running_loop()
    began = loop.time()
    await runtime.stop_messaging()
    await runtime.db.dispose()
    assert loop.time() - began < 4  # not left to the 5 s wait for tasks that never end
