"""A process's own stalls: the heap settled after start-up, and the collector's pauses and the event
loop's lag watched (metrics, and a warning line for a long one)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import time
from typing import Any

from prometheus_client import Histogram

log = logging.getLogger("codegram.stalls")

_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
GC_PAUSES = Histogram(
    "codegram_gc_pause_seconds",
    "How long the garbage collector stopped the process, by generation",
    ["service", "generation"],
    buckets=_PAUSE_BUCKETS,
)
LOOP_LAG = Histogram(
    "codegram_event_loop_lag_seconds",
    "How late the event loop ran a timer: the time a turn of the loop kept everything else waiting",
    ["service"],
    buckets=_PAUSE_BUCKETS,
)


def settle_heap() -> None:
    """What start-up built (modules, the app, its schemas, pools) lives as long as the process: it is
    frozen out of the collector's passes, and young objects are collected in larger batches. At the
    default thresholds a full pass over that heap ran every few seconds under load, stopping the
    process for tens to hundreds of milliseconds; a request allocates hundreds of objects, so the
    youngest generation was collected every few requests."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class StallWatch:
    """Times every collection (GC_PAUSES) and how late a timer of the loop fires (LOOP_LAG), and
    writes a warning line for either beyond `warn_after` seconds."""

    def __init__(self, service: str, *, interval: float = 0.05, warn_after: float = 0.1) -> None:
        self.service = service
        self.interval = interval
        self.warn_after = warn_after
        self._gc_began = 0.0
        self._pauses = [GC_PAUSES.labels(service, str(g)) for g in range(3)]
        self._lag = LOOP_LAG.labels(service)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        paused = time.perf_counter() - self._gc_began
        generation = info["generation"]
        self._pauses[generation].observe(paused)
        if paused > self.warn_after:
            # Not logged from inside the collector (a line written from a callback could allocate
            # and log while the collector runs), and outside the request whose allocation happened
            # to start the collection: the pause is the process's, not that request's.
            loop = _running_loop()
            if loop is not None:
                message = "garbage collection paused the process"
                loop.call_soon(self._warn, message, paused, generation, context=contextvars.Context())

    async def _watch(self) -> None:
        while True:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            late = max(0.0, time.perf_counter() - due)
            self._lag.observe(late)
            if late > self.warn_after:
                self._warn("the event loop was held up", late, None)

    def _warn(self, message: str, seconds: float, generation: int | None) -> None:
        fields: dict[str, Any] = {"stall_ms": round(seconds * 1000, 1)}
        if generation is not None:
            fields["generation"] = generation
        log.warning(message, extra=fields)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
