"""The sliding-window arithmetic of the rate limiter (Redis sharing is tested end to end)."""

from __future__ import annotations

import pytest

from codegram_gateway.ratelimit import Rate, RateLimiter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("120/minute", Rate(120, 60)),
        ("5/second", Rate(5, 1)),
        ("10/30seconds", Rate(10, 30)),
        ("1/day", Rate(1, 86400)),
    ],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize(
    "text", ["", "0/minute", "ten/minute", "10/fortnight", "10", "-1/second", "10/0minute"]
)
def test_malformed_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Rate.parse(text)


async def test_the_limit_holds_and_headers_count_down() -> None:
    clock = Clock(6000.0)  # the start of a minute window
    limiter = RateLimiter(None, clock=clock)
    rate = Rate(3, 60)
    decisions = [await limiter.check("ip", "a", rate) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[0].reset == 60
    assert decisions[3].retry_after == 60
    assert (await limiter.check("ip", "b", rate)).allowed  # another caller, another count


async def test_the_previous_window_weighs_as_much_as_it_still_overlaps() -> None:
    clock = Clock(6000.0)
    limiter = RateLimiter(None, clock=clock)
    rate = Rate(10, 60)
    for _ in range(10):
        assert (await limiter.check("ip", "a", rate)).allowed
    clock.now = 6060.0 + 15  # a quarter into the next window: 10 * 0.75 = 7.5 still count
    decisions = [await limiter.check("ip", "a", rate) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    # Admitted again once the old window has decayed enough: 10 * w + 2 + 1 <= 10 at w <= 0.7.
    assert decisions[2].retry_after == 3
    clock.now += 3
    assert (await limiter.check("ip", "a", rate)).allowed


async def test_refused_requests_do_not_count() -> None:
    clock = Clock(6000.0)
    limiter = RateLimiter(None, clock=clock)
    rate = Rate(1, 1)
    assert (await limiter.check("ip", "a", rate)).allowed
    for _ in range(5):
        assert not (await limiter.check("ip", "a", rate)).allowed
    clock.now = 6002.0  # two windows later nothing weighs
    assert (await limiter.check("ip", "a", rate)).allowed


def test_headers_follow_the_ietf_draft_and_the_github_trio() -> None:
    import asyncio

    limiter = RateLimiter(None, clock=Clock(6030.0))
    decision = asyncio.run(limiter.check("ip", "a", Rate(1, 60)))
    refused = asyncio.run(limiter.check("ip", "a", Rate(1, 60)))
    headers = dict(decision.headers())
    assert headers[b"ratelimit-policy"] == b"1;w=60"
    assert headers[b"ratelimit"] == b"limit=1, remaining=0, reset=30"
    assert headers[b"x-ratelimit-limit"] == b"1" and b"retry-after" not in headers
    assert dict(refused.headers())[b"retry-after"] == b"30"
