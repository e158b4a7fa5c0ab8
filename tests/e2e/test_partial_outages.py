"""Readiness says what a process can still serve with one engine stopped (docs/operations.md
"Health"): NATS and Redis only degrade, Postgres makes a service unready; and a service starts
while NATS is down and catches up when it is back.

These tests stop the session fleet's own engines; the `outage` fixture always starts them again
and waits until every process reports every dependency "ok", so later tests find a healthy fleet.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from codegram_devstack import engines
from codegram_devstack.e2e import member
from codegram_devstack.engines import free_port
from codegram_devstack.fleet import SERVICES, RunningFleet, wait_ready


def _readyz(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)


def _wait_fully_healthy(fleet: RunningFleet, timeout: float = 60.0) -> None:
    """Every service and the gateway ready with every check "ok" (degraded is not enough here)."""
    ports = {name: fleet.fleet.ports.http[name] for name in SERVICES}
    ports["gateway"] = fleet.fleet.ports.gateway
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            try:
                resp = _readyz(port)
            except httpx.HTTPError:
                continue
            if resp.status_code == 200 and resp.json()["status"] == "ok":
                del pending[name]
        time.sleep(0.2)
    assert not pending, f"not healthy again after {timeout}s: {pending}"


class Outages:
    """Stops engines of the session fleet, and starts them again on the same port and data."""

    def __init__(self, fleet: RunningFleet) -> None:
        self.fleet = fleet
        self.stopped: set[str] = set()
        self.touched = False  # something was stopped, even if a test started it again

    def _index(self, name: str) -> int:
        return next(i for i, e in enumerate(self.fleet.fleet.engines) if e.name == name)

    def stop(self, name: str) -> None:
        self.touched = True
        self.fleet.fleet.engines[self._index(name)].stop()
        self.stopped.add(name)

    def restore(self, name: str) -> None:
        index = self._index(name)
        engine = self.fleet.fleet.engines[index]
        assert engine.log_file is not None
        data_dir = Path(engine.log_file).parent
        if name == "postgres":
            restarted = engines.start_postgres(data_dir, engine.port, durable=False)
        elif name == "nats":
            restarted = engines.start_nats(data_dir, engine.port)
        else:
            restarted = engines.start_redis(data_dir, engine.port)
        self.fleet.fleet.engines[index] = restarted
        self.stopped.discard(name)


@pytest.fixture
def outage(fleet: RunningFleet) -> Iterator[Outages]:
    """Whatever a test stops is started again afterwards, and the fleet is waited for."""
    outages = Outages(fleet)
    try:
        yield outages
    finally:
        for name in list(outages.stopped):
            outages.restore(name)
        if outages.touched:
            _wait_fully_healthy(fleet)


@pytest.fixture
def start_users(fleet: RunningFleet, tmp_path: Path) -> Iterator[Callable[[], int]]:
    """One more users process on free ports (same database and NATS), without waiting for it."""
    processes: list[subprocess.Popen[bytes]] = []

    def _start() -> int:
        spec = fleet.fleet.service_spec("users")
        http_port, grpc_port = free_port(), free_port()
        log = tmp_path / f"users-{http_port}.log"
        with log.open("ab") as out:
            env = {**spec.env, "HTTP_PORT": str(http_port), "GRPC_PORT": str(grpc_port)}
            processes.append(subprocess.Popen(spec.command, env=env, stdout=out, stderr=out))
        return http_port

    yield _start
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def _backlog(fleet: RunningFleet, service: str) -> float:
    metrics = httpx.get(f"{fleet.http_url(service)}/metrics").text
    found = re.search(rf'^codegram_outbox_backlog\{{service="{service}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_without_nats_services_stay_ready_accept_writes_and_start_then_catch_up(
    fleet: RunningFleet, outage: Outages, start_users: Callable[[], int], gateway: httpx.Client
) -> None:
    alice = asyncio.run(member(fleet, "outage"))
    users_port, snippets_port = fleet.fleet.ports.http["users"], fleet.fleet.ports.http["snippets"]
    assert _readyz(users_port).json() == {"status": "ok", "checks": {"database": "ok", "nats": "ok"}}

    outage.stop("nats")
    for port in (users_port, snippets_port):
        _until(lambda p=port: _readyz(p).json()["checks"]["nats"] == "degraded", "nats reported degraded")
        ready = _readyz(port)
        assert ready.status_code == 200
        assert ready.json() == {"status": "degraded", "checks": {"database": "ok", "nats": "degraded"}}
    assert httpx.get(f"{fleet.http_url('users')}/healthz").json() == {"status": "ok"}

    # A write is accepted and waits in the outbox, where the backlog gauge sees it.
    body = {"title": "while nats is down", "code": "x = 1\n"}
    resp = gateway.post("/snippets", headers=alice.auth, json=body)
    assert resp.status_code == 201, resp.text
    _until(lambda: _backlog(fleet, "snippets") >= 1, "the snippets outbox backlog counted")

    # A replica started now comes up ready (HTTP served, NATS awaited in the background).
    late_port = start_users()
    assert not wait_ready({"users": late_port}, 60)
    assert _readyz(late_port).json()["checks"] == {"database": "ok", "nats": "degraded"}
    assert httpx.get(f"http://127.0.0.1:{late_port}/api/v1/users/{alice.username}").status_code == 200

    outage.restore("nats")

    # The late replica connects by itself, and the event written during the outage is published
    # and consumed: the author's count of public snippets goes to 1.
    _until(lambda: _readyz(late_port).json()["status"] == "ok", "the late replica connected to NATS")
    _until(
        lambda: gateway.get(f"/users/{alice.username}").json()["stats"]["snippets"] == 1,
        "the snippet created during the outage counted by the users service",
    )
    _until(lambda: _backlog(fleet, "snippets") == 0, "the snippets outbox drained")


def test_without_postgres_a_service_is_unready_but_alive(fleet: RunningFleet, outage: Outages) -> None:
    users_port = fleet.fleet.ports.http["users"]
    assert _readyz(users_port).status_code == 200
    outage.stop("postgres")
    _until(lambda: _readyz(users_port).status_code == 503, "users unready")
    assert _readyz(users_port).json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "nats": "ok"},
    }
    # Alive all the same: restarting it would not bring the database back.
    assert httpx.get(f"{fleet.http_url('users')}/healthz").json() == {"status": "ok"}
    # The gateway needs no database: it stays ready.
    assert _readyz(fleet.fleet.ports.gateway).json() == {"status": "ok", "checks": {"redis": "ok"}}


def test_without_redis_the_gateway_and_auth_stay_ready_and_the_api_answers(
    fleet: RunningFleet, outage: Outages
) -> None:
    gateway_port, auth_port = fleet.fleet.ports.gateway, fleet.fleet.ports.http["auth"]
    assert _readyz(gateway_port).json() == {"status": "ok", "checks": {"redis": "ok"}}
    assert _readyz(auth_port).json()["checks"]["redis"] == "ok"
    outage.stop("redis")
    ready = _readyz(gateway_port)
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"redis": "degraded"}}
    auth = _readyz(auth_port)
    assert auth.status_code == 200
    assert auth.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "nats": "ok", "redis": "degraded"},
    }
    # What readiness promises: the API still answers (limits counted locally).
    assert httpx.get(f"{fleet.gateway_url}/api/v1/users?limit=1").status_code == 200
    assert httpx.get(f"{fleet.gateway_url}/.well-known/jwks.json").status_code == 200
