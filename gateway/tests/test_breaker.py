"""The circuit breaker's states: closed, open after repeated failures, one trial, closed again."""

from __future__ import annotations

from codegram_gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_and_lets_one_trial_through_later() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, open_seconds=5, clock=clock)
    for _ in range(2):
        assert breaker.retry_after() is None
        breaker.failed()
    assert breaker.retry_after() is None
    breaker.failed()
    assert breaker.retry_after() == 5  # open: callers are answered at once
    clock.now += 4
    assert breaker.retry_after() == 1
    clock.now += 1
    assert breaker.retry_after() is None  # the one trial
    assert breaker.retry_after() is not None  # everyone else still waits
    breaker.succeeded()
    assert breaker.retry_after() is None and breaker.failures == 0


def test_a_failed_trial_opens_it_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_seconds=2, clock=clock)
    breaker.failed()
    clock.now += 2
    assert breaker.retry_after() is None
    breaker.failed()
    assert breaker.retry_after() == 2


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_seconds=2, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.retry_after() is None
