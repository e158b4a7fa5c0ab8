"""A process watches its own stalls: the collector's pauses and the event loop's lag are metrics, a
long one is a warning line, and start-up's heap is frozen out of the collector's passes."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from codegram_kit.runtime.context import current_request_id, request_id_var
from codegram_kit.runtime.stalls import StallWatch, settle_heap


def _count(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{metric}_count", labels) or 0.0


@pytest.fixture
def collector_state() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_a_held_up_loop_is_measured_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    watch = StallWatch("stall-tests", interval=0.02, warn_after=0.2)
    watch.start()
    try:
        await asyncio.sleep(0.1)  # the timer runs on time first: measured, no warning
        on_time = _count("codegram_event_loop_lag_seconds", service="stall-tests")
        assert on_time >= 1
        assert not [r for r in caplog.records if r.name == "codegram.stalls"]

        with caplog.at_level(logging.WARNING, logger="codegram.stalls"):
            time.sleep(0.4)  # noqa: ASYNC251 (a turn of the loop that keeps everything else waiting)
            await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    warnings = [r for r in caplog.records if r.name == "codegram.stalls"]
    assert [r.getMessage() for r in warnings] == ["the event loop was held up"]
    assert 350 <= warnings[0].stall_ms < 2000  # type: ignore[attr-defined]
    assert _count("codegram_event_loop_lag_seconds", service="stall-tests") > on_time


async def test_collections_are_timed_and_a_long_one_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    quiet = StallWatch("stall-tests-gc", warn_after=10)
    quiet.start()
    try:
        before = _count("codegram_gc_pause_seconds", service="stall-tests-gc", generation="2")
        with caplog.at_level(logging.WARNING, logger="codegram.stalls"):
            gc.collect()
            await asyncio.sleep(0)
        assert _count("codegram_gc_pause_seconds", service="stall-tests-gc", generation="2") == before + 1
        assert not [r for r in caplog.records if r.name == "codegram.stalls"]
    finally:
        await quiet.stop()

    watch = StallWatch("stall-tests-gc", warn_after=0)  # every pause is "long"
    warned_in: list[str | None] = []
    warn = watch._warn

    def spy(*args: object) -> None:
        warned_in.append(current_request_id())
        warn(*args)  # type: ignore[arg-type]

    watch._warn = spy  # type: ignore[method-assign]
    watch.start()
    token = request_id_var.set("a-request-that-happened-to-allocate")
    try:
        with caplog.at_level(logging.WARNING, logger="codegram.stalls"):
            gc.collect()
            await asyncio.sleep(0)  # the warning is written on the loop, after the collection
    finally:
        request_id_var.reset(token)
        await watch.stop()
    warnings = [r for r in caplog.records if r.name == "codegram.stalls"]
    assert warnings and warnings[0].getMessage() == "garbage collection paused the process"
    assert warnings[0].generation == 2  # type: ignore[attr-defined]
    assert warned_in and set(warned_in) == {None}  # the process's pause, not the request's


async def test_a_stopped_watch_leaves_the_collector_alone() -> None:
    watch = StallWatch("stall-tests-stop")
    watch.start()
    assert watch._on_gc in gc.callbacks
    await watch.stop()
    assert watch._on_gc not in gc.callbacks
    before = _count("codegram_gc_pause_seconds", service="stall-tests-stop", generation="2")
    gc.collect()
    assert _count("codegram_gc_pause_seconds", service="stall-tests-stop", generation="2") == before


@pytest.mark.usefixtures("collector_state")
def test_start_up_heap_is_frozen_and_young_objects_collected_in_batches() -> None:
    gc.unfreeze()
    kept = [object() for _ in range(10)]  # noqa: F841 (alive across the call)
    assert gc.get_freeze_count() == 0
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (10_000, 10, 10)
