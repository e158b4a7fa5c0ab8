"""SIGTERM stops a service well within the Kubernetes grace period (30 s): requests and gRPC drain,
the consumers and job queues let go of their subscriptions, NATS drains, and the process ends.

A consumer that stopped without unsubscribing left the status message of its last pull request
unread, and the connection's drain waited for it until its own 30 s timeout: every restart took
half a minute, and Kubernetes killed the pod mid-drain."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet, wait_ready

# The services with the most messaging: consumers (users, social), a job queue (github).
SERVICES = ["users", "social", "github"]


@pytest.mark.parametrize("service", SERVICES)
def test_sigterm_stops_a_service_promptly(fleet: RunningFleet, tmp_path: Path, service: str) -> None:
    spec = fleet.fleet.service_spec(service)
    http_port, grpc_port = free_port(), free_port()
    log = tmp_path / f"{service}.log"
    with log.open("ab") as out:
        env = {**spec.env, "HTTP_PORT": str(http_port), "GRPC_PORT": str(grpc_port)}
        proc = subprocess.Popen(spec.command, env=env, stdout=out, stderr=out)
    try:
        exited = lambda _name: None if proc.poll() is None else log.read_text()  # noqa: E731
        assert not wait_ready({service: http_port}, 60, exited), log.read_text()[-3000:]
        time.sleep(3)  # idle long enough for pull requests to expire while nobody waits on them
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(25)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # uvicorn re-raises the signal once its shutdown is done, so the code says SIGTERM; the log says
    # whether the shutdown ran to its end.
    assert code in (0, -signal.SIGTERM), f"exit code {code}: " + log.read_text()[-1500:]
    assert '"service stopped"' in log.read_text(), log.read_text()[-1500:]
    # Its own drain grace is 10 s (SHUTDOWN_GRACE_SECONDS), spent only while work is in flight.
    assert took < 10, f"{service} took {took:.1f}s to stop"
