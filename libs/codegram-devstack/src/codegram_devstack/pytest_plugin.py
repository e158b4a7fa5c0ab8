"""Pytest fixtures that start the real engines and the real fleet on free ports in a temporary place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegram_devstack.fleet import Fleet, Ports, RunningFleet


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


@pytest.fixture(scope="session")
def fleet(engines: Fleet) -> Iterator[RunningFleet]:
    """Every service, the gateway and the GitHub stand-in, running as real processes."""
    engines.migrate()
    running = RunningFleet.start(engines, engines.state_dir / "logs")
    try:
        yield running
    finally:
        running.stop()


__all__ = ["RunningFleet", "engines", "fleet"]
