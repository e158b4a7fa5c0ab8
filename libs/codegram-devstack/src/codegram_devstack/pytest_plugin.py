"""Pytest fixtures that start the real engines and the real fleet on free ports in a temporary place."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from codegram_devstack.fleet import SERVICES, Fleet, Ports, ProcessSpec


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Postgres, NATS and Redis for this test run, with every service's role and schema created."""
    fleet = Fleet(
        state_dir=tmp_path_factory.mktemp("fleet"),
        ports=Ports.free(),
        durable=False,
        environment="test",
        log_format="json",
    )
    fleet.start_engines()
    try:
        fleet.bootstrap_database()
        yield fleet
    finally:
        fleet.stop_engines()


@dataclass
class RunningFleet:
    fleet: Fleet
    processes: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.fleet.ports.gateway}"

    def http_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.fleet.ports.http[service]}"

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.fleet.ports.grpc[service]}"

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


def _start(spec: ProcessSpec, log_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = log_dir / f"{spec.name}.log"
    out = log_path.open("ab")
    proc = subprocess.Popen(spec.command, env=spec.env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log_path


def _wait_ready(running: RunningFleet, specs: list[ProcessSpec], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = {s.name: s.port for s in specs}
    while pending:
        for name, port in list(pending.items()):
            proc = running.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{running.log(name)[-4000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{running.log(n)[-2000:]}" for n in pending)
            raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)}\n{logs}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def fleet(engines: Fleet) -> Iterator[RunningFleet]:
    """Every service, the gateway and the GitHub stand-in, running as real processes."""
    engines.migrate()
    log_dir = engines.state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    specs = engines.process_specs()
    running = RunningFleet(engines, {}, {})
    for spec in specs:
        running.processes[spec.name], running.logs[spec.name] = _start(spec, log_dir)
    try:
        _wait_ready(running, specs)
        yield running
    finally:
        for proc in running.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running.processes.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


__all__ = ["SERVICES", "RunningFleet", "engines", "fleet"]
