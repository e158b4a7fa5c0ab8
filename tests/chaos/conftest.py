"""The chaos suite runs only under `make chaos` (it kills parts of its fleet and takes minutes);
`make test` collects tests/ and skips this folder. Results are printed and written to
bench/results/chaos-<date>.md at the end of the run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from codegram_devstack.engines import free_port
from codegram_devstack.fleet import Fleet, RunningFleet, wait_ready
from codegram_kit.messaging.outbox import FAULT_SETTING
from tests.chaos import results

ENABLED = os.environ.get("CODEGRAM_CHAOS") == "1"
if not ENABLED:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def fleet(engines: Fleet) -> Iterator[RunningFleet]:
    """The fleet of the pytest plugin, with every outbox relay ready to crash when asked to
    (a file named after the service in `outbox-faults`, see codegram_kit.messaging.outbox)."""
    faults = engines.state_dir / "outbox-faults"
    faults.mkdir(exist_ok=True)
    engines.extra_env[FAULT_SETTING] = str(faults)
    # The signing keys are cached as in production: the test stack's one-second cache puts a key
    # fetch in front of a request every second, which is not what a refusal costs.
    engines.extra_env.update(JWKS_CACHE_SECONDS="300", JWKS_MIN_REFRESH_SECONDS="5")
    engines.migrate()
    running = RunningFleet.start(engines, engines.state_dir / "logs")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def second_gateway(fleet: RunningFleet) -> Iterator[str]:
    """A second gateway in front of the same services: the load balances over both, so killing
    one is a fault the API should ride out."""
    spec = next(s for s in fleet.fleet.process_specs() if s.name == "gateway")
    port = free_port()
    log = fleet.fleet.state_dir / "logs" / "gateway-2.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            spec.command, env={**spec.env, "HTTP_PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        exited = lambda _name: None if proc.poll() is None else log.read_text()  # noqa: E731
        assert not wait_ready({"gateway-2": port}, 60, exited), log.read_text()[-3000:]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    path = results.write()
    if path is not None:
        terminalreporter.section("chaos")
        for line in results.LINES:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"written to {path}")
