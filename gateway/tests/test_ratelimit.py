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


class _RecordingPipeline:
    """Redis's pipeline as the limiter uses it, over a dict, recording the commands of each call."""

    def __init__(self, store: dict[str, int], calls: list[list[tuple[str, str]]]) -> None:
        self.store, self.calls, self.commands = store, calls, []

    def incrby(self, key: str, amount: int) -> None:
        self.commands.append(("incrby", key, amount))

    def expire(self, key: str, ttl: int) -> None:
        self.commands.append(("expire", key, ttl))

    def get(self, key: str) -> None:
        self.commands.append(("get", key, 0))

    async def execute(self) -> list[object]:
        self.calls.append([(name, key) for name, key, _ in self.commands])
        results: list[object] = []
        for name, key, value in self.commands:
            if name == "incrby":
                self.store[key] = self.store.get(key, 0) + value
                results.append(self.store[key])
            elif name == "expire":
                results.append(True)
            else:
                results.append(str(self.store[key]).encode() if key in self.store else None)
        return results


class _RecordingRedis:
    def __init__(self) -> None:
        self.store: dict[str, int] = {}
        self.calls: list[list[tuple[str, str]]] = []

    def register_script(self, _: str) -> object:
        return object()

    def pipeline(self, transaction: bool = False) -> _RecordingPipeline:
        return _RecordingPipeline(self.store, self.calls)


async def test_a_sync_carries_only_the_counters_used_since_the_last_one() -> None:
    clock = Clock(6000.0)
    redis = _RecordingRedis()
    limiter = RateLimiter(redis, clock=clock)  # type: ignore[arg-type]
    rate = Rate(5, 60)
    for who in ("a", "b", "c"):
        assert (await limiter.check("user", who, rate)).allowed
    await limiter.sync()
    first = redis.calls[-1]
    assert ("incrby", "rl:user:a:100") in first and ("incrby", "rl:user:c:100") in first
    assert redis.store["rl:user:b:100"] == 1

    # Another replica admits 3 for "a"; only "a" is active here since the sync.
    redis.store["rl:user:a:100"] += 3
    clock.now += 0.1
    assert (await limiter.check("user", "a", rate)).allowed
    await limiter.sync()
    keys = {key for _, key in redis.calls[-1]}
    assert keys == {"rl:user:a:100", "rl:user:a:99"}  # b and c idle: not asked again
    assert redis.store["rl:user:a:100"] == 5
    assert not (await limiter.check("user", "a", rate)).allowed  # the fleet-wide total counts

    # A refusal adds nothing but still reads the total back; then an idle limiter asks nothing.
    calls = len(redis.calls)
    await limiter.sync()
    assert [name for name, _ in redis.calls[-1]] == ["get", "get"]
    clock.now += 0.1
    await limiter.sync()
    assert len(redis.calls) == calls + 1


async def test_one_caller_under_two_rates_keeps_two_counts() -> None:
    limiter = RateLimiter(None, clock=Clock(6000.0))
    minute, second = Rate(2, 60), Rate(5, 1)
    assert [(await limiter.check("ip", "a", minute)).allowed for _ in range(3)] == [True, True, False]
    assert all([(await limiter.check("ip", "a", second)).allowed for _ in range(5)])
    assert not (await limiter.check("ip", "a", second)).allowed


async def test_without_redis_past_windows_are_forgotten() -> None:
    clock = Clock(6000.0)
    limiter = RateLimiter(None, clock=clock)
    rate = Rate(3, 60)
    for caller in ("a", "b", "c"):
        assert (await limiter.check("ip", caller, rate)).allowed
    await limiter.sync()
    assert len(limiter._counters) == 6 and len(limiter._windows) == 3  # still in use: kept
    assert (await limiter.check("ip", "a", rate)).remaining == 1  # and still counting

    clock.now += 121  # two windows later nobody's counts weigh any more
    await limiter.sync()
    assert limiter._counters == {} and limiter._windows == {}
    assert (await limiter.check("ip", "a", rate)).remaining == 2


async def test_checks_redis_must_answer_are_not_made_locally() -> None:
    clock = Clock(6000.0)
    rate = Rate(5, 60)
    local = RateLimiter(_RecordingRedis(), clock=clock)  # type: ignore[arg-type]
    decision = local.check_locally("ip", "a", rate)
    assert decision is not None and decision.remaining == 4
    exact = RateLimiter(_RecordingRedis(), clock=clock, sync_interval=0)  # type: ignore[arg-type]
    assert exact.check_locally("ip", "a", rate) is None  # every check is Redis's
    exact._redis_failed(OSError("down"))
    decision = exact.check_locally("ip", "a", rate)  # Redis away: counted here meanwhile
    assert decision is not None and decision.remaining == 4
