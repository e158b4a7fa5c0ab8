"""A circuit breaker per service: after repeated failures, answer 503 at once for a while
instead of tying up connections, then let one trial request through to see if it recovered."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    open_seconds: float = 5.0
    clock: Callable[[], float] = field(default=time.monotonic)
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    def retry_after(self) -> float | None:
        """None when a request may go through; else seconds until the next trial."""
        if self.opened_at is None:
            return None
        waited = self.clock() - self.opened_at
        if waited >= self.open_seconds and not self.trial_in_flight:
            self.trial_in_flight = True  # half-open: exactly one request tests the service
            return None
        return max(0.0, self.open_seconds - waited) or self.open_seconds

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failed(self) -> None:
        self.failures += 1
        self.trial_in_flight = False
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
