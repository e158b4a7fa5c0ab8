"""Rate limits that hold across gateway replicas without a Redis round trip per request.

Each limit is a sliding window (the current fixed window plus the previous one, weighted by how
much of it still overlaps), counted in Redis under `rl:<bucket>:<who>:<window index>` so every
replica adds to the same counters. Two ways to keep those counters:

- synced (`sync_interval` > 0): the replica counts locally and a background task reconciles the
  counters used since the last sync with Redis in one pipelined call per interval, like Kong's
  `sync_rate`. Between two syncs each replica judges on the totals it last saw plus its own
  admissions, so N replicas can together overshoot a limit by at most what the other replicas
  admitted in one interval (and a caller idle here for a while is judged, for one interval, on
  the total read when it was last active). A counter nobody used since the last sync costs
  nothing: a gateway that has seen 10,000 callers syncs the few that are active.
- exact (`sync_interval` = 0, and always for buckets declared exact): one Lua script per request
  checks and counts atomically. Meant for low-volume buckets such as sign-in.

When Redis cannot be reached, both keep serving on the local counts (a replica then enforces the
limit on its own share of the traffic), set a gauge and log once; pending local counts are flushed
when Redis is back, so nothing admitted during the outage is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("codegram.gateway.ratelimit")

REDIS_UP = Gauge("codegram_gateway_rate_limit_redis_up", "1 while the rate limiter reaches Redis")
LIMITED = Counter("codegram_gateway_rate_limited_total", "Requests refused with 429", ["bucket"])
SYNC_ERRORS = Counter("codegram_gateway_rate_limit_sync_errors_total", "Failed Redis syncs or checks")

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# Matched against the stripped text. Anchored, and the optional count is "digits then spaces"
# so that no two space runs are adjacent: linear whatever the text (`1/` and a long run of tabs
# would otherwise backtrack quadratically).
_RATE = re.compile(r"^(\d+)\s*/\s*(?:(\d+)\s*)?(second|minute|hour|day)s?$")

# Atomic sliding-window check-and-count: KEYS current and previous window, ARGV limit, weight of
# the previous window, ttl in ms. Answers {admitted, current count, previous count}.
_CHECK_SCRIPT = """
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if prev * tonumber(ARGV[2]) + cur + 1 > tonumber(ARGV[1]) then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, cur, prev}
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` requests per `window` seconds, written like `120/minute` or `10/30second`."""

    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.fullmatch(text.strip())
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"a rate is like '120/minute', not {text!r}")
        count = int(match.group(2) or 1)
        if count < 1:
            raise ValueError(f"a rate is like '120/minute', not {text!r}")
        return cls(int(match.group(1)), count * _PERIODS[match.group(3)])


class Decision(NamedTuple):
    """One request's verdict (a tuple: made for every request, and a frozen dataclass's fields
    each cost a call to set)."""

    allowed: bool
    rate: Rate
    remaining: int
    reset: int  # seconds until the current window ends
    retry_after: int  # seconds until a refused request would be admitted (0 when allowed)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """IETF RateLimit-Policy / RateLimit (draft 7) and the GitHub-style X-RateLimit trio."""
        limit, remaining, reset = self.rate.limit, self.remaining, self.reset
        policy, limit_header = _static_headers(self.rate)
        headers = [
            policy,
            (b"ratelimit", b"limit=%d, remaining=%d, reset=%d" % (limit, remaining, reset)),
            limit_header,
            (b"x-ratelimit-remaining", b"%d" % remaining),
            (b"x-ratelimit-reset", b"%d" % (int(time.time()) + reset)),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


_STATIC_HEADERS: dict[Rate, tuple[tuple[bytes, bytes], tuple[bytes, bytes]]] = {}


def _static_headers(rate: Rate) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """The headers that depend on the rate alone (a process has a handful of rates)."""
    static = _STATIC_HEADERS.get(rate)
    if static is None:
        static = _STATIC_HEADERS[rate] = (
            (b"ratelimit-policy", b"%d;w=%d" % (rate.limit, rate.window)),
            (b"x-ratelimit-limit", b"%d" % rate.limit),
        )
    return static


@dataclass(slots=True)
class _Counter:
    synced: int = 0  # the total Redis reported at the last sync (other replicas included)
    pending: int = 0  # admitted here and not yet added to Redis
    used_at: float = 0.0
    used_in: int = 0  # the sync round it was last used in
    ttl: int = 120  # seconds: the window after this one still reads it as "previous"


@dataclass
class RateLimiter:
    redis: Redis | None
    sync_interval: float = 0.1
    clock: Callable[[], float] = time.time
    retry_redis_after: float = 1.0
    _counters: dict[str, _Counter] = field(default_factory=dict)
    # (bucket, who, window length) -> (window index, its counter, the previous window's): the keys
    # of a caller's counters made once per window instead of on every request.
    _windows: dict[tuple[str, str, int], tuple[int, _Counter, _Counter]] = field(default_factory=dict)
    _redis_down_until: float = 0.0
    _redis_up: bool = True
    _round: int = 0  # sync rounds started; a counter used in the current one is synced next
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._script = self.redis.register_script(_CHECK_SCRIPT) if self.redis is not None else None
        REDIS_UP.set(1 if self.redis is not None else 0)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        # In exact mode the loop only flushes what was counted locally while Redis was away;
        # without Redis it only forgets the counters of past windows.
        self._task = asyncio.create_task(self._sync_forever(), name="rate-limit-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await self.sync()  # hand the last counts over before going away
        if self.redis is not None:
            await self.redis.aclose()

    # -- checks ----------------------------------------------------------------------------------
    async def check(self, bucket: str, who: str, rate: Rate, *, exact: bool = False) -> Decision:
        if not exact:
            decision = self.check_locally(bucket, who, rate)
            if decision is not None:
                return decision
        now = self.clock()
        if not self._redis_usable(now):
            return self._count(bucket, who, rate, now)
        index, elapsed = divmod(now, rate.window)
        weight = 1.0 - elapsed / rate.window
        window_index = int(index)
        try:
            assert self._script is not None
            admitted, current, previous = await self._script(
                keys=[_key(bucket, who, window_index), _key(bucket, who, window_index - 1)],
                args=[rate.limit, repr(weight), rate.window * 2000],
            )
            self._redis_ok()
            estimate = previous * weight + current - (1 if admitted else 0)
            return _decide(bucket, bool(admitted), rate, estimate, previous, elapsed)
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
        return self._count(bucket, who, rate, now)  # counted here until Redis is back

    def check_locally(self, bucket: str, who: str, rate: Rate) -> Decision | None:
        """`check` on this replica's counts, without a coroutine (the hot path would rather not
        make one), or None when the check is one Redis must answer (SYNC_INTERVAL 0: every
        check exact)."""
        now = self.clock()
        if self.sync_interval <= 0 and self._redis_usable(now):
            return None
        return self._count(bucket, who, rate, now)

    def _count(self, bucket: str, who: str, rate: Rate, now: float) -> Decision:
        index, elapsed = divmod(now, rate.window)
        weight = 1.0 - elapsed / rate.window
        window_index = int(index)
        slot = (bucket, who, rate.window)
        cached = self._windows.get(slot)
        if cached is not None and cached[0] == window_index:
            _, current, previous = cached
            current.used_at = previous.used_at = now
            current.used_in = previous.used_in = self._round
        else:
            current = self._counter(_key(bucket, who, window_index), now, rate)
            previous = self._counter(_key(bucket, who, window_index - 1), now, rate)
            self._windows[slot] = (window_index, current, previous)
        previous_total = previous.synced + previous.pending
        estimate = previous_total * weight + current.synced + current.pending
        admitted = estimate + 1 <= rate.limit
        if admitted:
            current.pending += 1
        return _decide(bucket, admitted, rate, estimate, previous_total, elapsed)

    def _counter(self, key: str, now: float, rate: Rate) -> _Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(ttl=rate.window * 2)
        counter.used_at = now
        counter.used_in = self._round
        return counter

    # -- reconciliation --------------------------------------------------------------------------
    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval if self.sync_interval > 0 else 1.0)
            await self.sync()

    async def sync(self) -> None:
        """Add the pending counts to Redis and read back the fleet-wide totals of the counters used
        since the last sync, in one round trip."""
        now = self.clock()
        # Without Redis a count is never handed over: its window's end is its end.
        keep_pending = self.redis is not None
        stale = [
            k
            for k, c in self._counters.items()
            if now - c.used_at > c.ttl and not (keep_pending and c.pending)
        ]
        for key in stale:
            del self._counters[key]
        if stale:
            # A window's counters are stale only once its index is past: no check would use them.
            self._windows = {k: w for k, w in self._windows.items() if now - w[1].used_at <= w[1].ttl}
        if self.redis is None or not self._counters or not self._redis_usable(now):
            return
        current = self._round
        self._round += 1  # a check from now on is in the next round
        snapshot = [
            (key, counter, counter.pending)
            for key, counter in self._counters.items()
            if counter.pending or counter.used_in == current
        ]
        if not snapshot:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key, counter, pending in snapshot:
            if pending:
                pipe.incrby(key, pending)
                pipe.expire(key, counter.ttl)
            else:
                pipe.get(key)  # refused or read only: the total, nothing to add
        try:
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return
        self._redis_ok()
        replies = iter(results)
        for _, counter, pending in snapshot:
            total = next(replies)
            if pending:
                next(replies)  # EXPIRE's answer
                counter.pending -= pending  # admissions made while the call was in flight stay pending
            counter.synced = int(total or 0)

    # -- Redis health ----------------------------------------------------------------------------
    def _redis_usable(self, now: float) -> bool:
        return self.redis is not None and now >= self._redis_down_until

    def _redis_failed(self, exc: BaseException) -> None:
        SYNC_ERRORS.inc()
        self._redis_down_until = self.clock() + self.retry_redis_after
        if self._redis_up:
            self._redis_up = False
            REDIS_UP.set(0)
            log.warning("redis unreachable: rate limits counted locally", extra={"error": repr(exc)})

    def _redis_ok(self) -> None:
        if not self._redis_up:
            self._redis_up = True
            REDIS_UP.set(1)
            log.info("redis reachable again: rate limits shared")


def _key(bucket: str, who: str, window_index: int) -> str:
    return f"rl:{bucket}:{who}:{window_index}"


def _decide(
    bucket: str, allowed: bool, rate: Rate, estimate: float, previous: int, elapsed: float
) -> Decision:
    reset = max(1, math.ceil(rate.window - elapsed))
    if allowed:
        remaining = max(0, rate.limit - math.ceil(estimate) - 1)
        return Decision(True, rate, remaining, reset, 0)
    current = estimate - previous * (1.0 - elapsed / rate.window)
    if previous and current + 1 <= rate.limit:
        # The previous window's weight decays linearly; wait until it has shed enough.
        wait = rate.window * (1.0 - (rate.limit - current - 1) / previous) - elapsed
    else:
        wait = rate.window - elapsed
    LIMITED.labels(bucket).inc()
    return Decision(False, rate, 0, reset, max(1, math.ceil(round(wait, 6))))
