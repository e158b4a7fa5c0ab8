"""Background work: a per-service JetStream work queue with retries, deferral and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.consumer import (
    DEAD_LETTER_PREFIX,
    dead_letter_and_terminate,
    dead_letter_subject,
    describe_failure,
    event_id,
    unsubscribe,
)
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.messaging.streams import MSG_ID_HEADER, apply_stream
from codegram_kit.runtime.context import REQUEST_ID_HEADER, current_request_id, request_id_var
from codegram_kit.runtime.metrics import (
    EVENTS_DEAD_LETTERED,
    JOB_DURATION,
    JOB_QUEUE_DEPTH,
    JOBS_SETTLED,
    PERIODIC_RUNS,
)

log = logging.getLogger("codegram.jobs")

JOBS_PREFIX = "jobs"
JOB_KIND_HEADER = "CodeGram-Job-Kind"
# How long the work queue remembers a job's Nats-Msg-Id: an enqueue repeated within it (a rerun
# of a schedule, two replicas, an outbox relay sending again) runs once.
JOB_DUPLICATE_WINDOW_SECONDS = 24 * 3600
# Attempt counters of jobs not settled yet; one a job left behind (a stream deleted under it)
# expires after this.
ATTEMPTS_TTL_SECONDS = 7 * 24 * 3600


class Defer(Exception):
    """Raised by a handler: run this job again not before `until`; this was not an attempt
    (a rate limit says "come back at T", not "you failed")."""

    def __init__(self, until: datetime | float, reason: str = "") -> None:
        self.until = until
        self.reason = reason
        super().__init__(reason or f"deferred until {until}")

    def delay(self, now: datetime | None = None) -> float:
        """Seconds from now to `until` (a float `until` is already a delay), never negative."""
        if isinstance(self.until, datetime):
            now = now or datetime.now(UTC)
            return max(0.0, (self.until - now).total_seconds())
        return max(0.0, float(self.until))


class PermanentFailure(Exception):
    """Raised by a handler: this job can never succeed; dead-letter it now, with this reason."""


def job_stream_name(service: str) -> str:
    return f"CODEGRAM_JOBS_{service.upper().replace('-', '_')}"


def job_subject(service: str, kind: str) -> str:
    return f"{JOBS_PREFIX}.{service}.{kind}"


def _check_token(token: str) -> None:
    if not token or any(c in token for c in ".*> \t"):
        raise ValueError(f"not a subject token: {token!r}")


async def ensure_job_stream(js: JetStreamContext, service: str) -> None:
    """The service's work queue: `jobs.<service>.>`, each job kept until a consumer acks it
    (work-queue retention), on disk. Apart from the CODEGRAM stream's `codegram.>`."""
    config = StreamConfig(
        name=job_stream_name(service),
        subjects=[f"{JOBS_PREFIX}.{service}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=JOB_DUPLICATE_WINDOW_SECONDS,
    )
    await apply_stream(js, config)


def _encode(payload: bytes | Mapping[str, Any]) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True).encode()


class JobClient:
    """Enqueues a service's jobs: `enqueue` straight to JetStream (after the caller's transaction
    has committed), or `enqueue_in` through the outbox (with the transaction: the robust way)."""

    def __init__(self, service: str, js: JetStreamContext, outbox: Outbox | None = None) -> None:
        _check_token(service)
        self.service = service
        self.js = js
        self.outbox = outbox
        self._stream_ready = False

    def _headers(self, kind: str) -> dict[str, str]:
        headers = {JOB_KIND_HEADER: kind}
        rid = current_request_id()
        if rid:
            headers[REQUEST_ID_HEADER] = rid
        return headers

    async def enqueue(self, kind: str, payload: bytes | Mapping[str, Any], msg_id: str) -> bool:
        """Publish one job; False when JetStream already had `msg_id` (within the duplicate window)."""
        _check_token(kind)
        if not self._stream_ready:
            await ensure_job_stream(self.js, self.service)
            self._stream_ready = True
        headers = {**self._headers(kind), MSG_ID_HEADER: msg_id}
        ack = await self.js.publish(job_subject(self.service, kind), _encode(payload), headers=headers)
        return not ack.duplicate

    async def enqueue_in(
        self, session: AsyncSession, kind: str, payload: bytes | Mapping[str, Any], msg_id: str
    ) -> None:
        """Record the job in the caller's transaction; the outbox relay publishes it on commit."""
        _check_token(kind)
        if self.outbox is None:
            raise RuntimeError("this job client has no outbox")
        await self.outbox.add_raw(
            session, job_subject(self.service, kind), _encode(payload), self._headers(kind), msg_id=msg_id
        )


@dataclass
class Job:
    """One delivery of a job to its handler."""

    kind: str
    msg_id: str
    payload: bytes
    attempt: int  # 1 for the first run; deferrals do not count
    msg: Msg = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.payload)

    async def in_progress(self) -> None:
        """Tell JetStream the job is still being worked on (the queue also does this by itself
        while the handler runs)."""
        await self.msg.in_progress()


JobHandler = Callable[[Job], Awaitable[None]]
# Told of a job given up on (with the dead letter's reason): to record it as failed in the store.
FailureHandler = Callable[[Job, str], Awaitable[None]]


class JobQueue:
    """Runs one kind of job from the service's work queue, with a durable pull consumer.

    The handler does its work in its own units of work (no transaction around a remote call) and
    returns; only then is the job acknowledged and gone. Outcomes:
    - returns: succeeded, acked.
    - raises `Defer(until)`: redelivered not before `until`; not an attempt.
    - raises `PermanentFailure`: dead-lettered at once.
    - raises anything else: retried after an exponential backoff with jitter, until
      `max_attempts` runs have failed; then dead-lettered with the reason.
    - the process dies mid-job: JetStream redelivers it after `ack_wait`; that run counted.

    JetStream's delivery count counts every redelivery, deferrals too, and a message's headers
    cannot change on redelivery, so attempts are counted in a JetStream key-value bucket, keyed by
    the job's stream sequence: incremented before the handler runs (a crash counts), taken back on
    `Defer`, removed when the job settles.
    """

    def __init__(
        self,
        *,
        service: str,
        kind: str,
        js: JetStreamContext,
        handler: JobHandler,
        max_attempts: int = 3,
        backoff_base_seconds: float = 2.0,
        backoff_max_seconds: float = 600.0,
        jitter: float = 0.2,
        ack_wait_seconds: float = 30.0,
        timeout_seconds: float = 600.0,
        concurrency: int = 1,
        on_failed: FailureHandler | None = None,
    ) -> None:
        _check_token(service)
        _check_token(kind)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.service = service
        self.kind = kind
        self.name = f"job-{kind}"
        self.durable = f"{service}-job-{kind}"
        self.subject = job_subject(service, kind)
        self.stream = job_stream_name(service)
        self.dead_letters = dead_letter_subject(service, self.name)
        self.js = js
        self.handler = handler
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.jitter = jitter
        self.ack_wait_seconds = ack_wait_seconds
        self.timeout_seconds = timeout_seconds
        self.concurrency = concurrency
        self.on_failed = on_failed
        self._attempts: KeyValue | None = None
        self._stopping = asyncio.Event()
        assert not self.dead_letters.startswith(JOBS_PREFIX) and self.dead_letters.startswith(
            DEAD_LETTER_PREFIX
        )
        # The series exist from the start, at 0, so an alert on their increase sees the first one.
        EVENTS_DEAD_LETTERED.labels(service, self.durable)
        for outcome in ("succeeded", "retried", "deferred", "failed"):
            JOBS_SETTLED.labels(service, kind, outcome)

    def retry_delay(self, attempt: int) -> float:
        """Backoff after the `attempt`th failed run: base * 2^(attempt-1), capped, +/- jitter."""
        delay = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return max(0.0, delay * (1 + random.uniform(-self.jitter, self.jitter)))  # noqa: S311 - jitter, not secrets

    async def setup(self) -> None:
        """The stream, the durable consumer and the attempts bucket (idempotent)."""
        await ensure_job_stream(self.js, self.service)
        await self.js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_seconds,
                max_deliver=-1,  # attempts are counted here, not by JetStream (see the class)
                filter_subject=self.subject,
            ),
        )
        bucket = f"{self.stream}_ATTEMPTS"
        try:
            self._attempts = await self.js.key_value(bucket)
        except BucketNotFoundError:
            self._attempts = await self.js.create_key_value(
                bucket=bucket, history=1, ttl=ATTEMPTS_TTL_SECONDS, storage=StorageType.FILE
            )

    def _key(self, msg: Msg, msg_id: str) -> str:
        digest = hashlib.sha256(msg_id.encode()).hexdigest()[:16]
        return f"{self.kind}.{msg.metadata.sequence.stream}.{digest}"

    async def _count(self, key: str, delta: int) -> int:
        assert self._attempts is not None
        try:
            current = int((await self._attempts.get(key)).value or b"0")
        except KeyNotFoundError:
            current = 0
        updated = max(0, current + delta)
        await self._attempts.put(key, str(updated).encode())
        return updated

    async def _forget(self, key: str) -> None:
        assert self._attempts is not None
        with contextlib.suppress(Exception):  # it expires anyway
            await self._attempts.purge(key)

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.ack_wait_seconds / 3))
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def deliver(self, msg: Msg) -> str:
        """Run one delivered job and settle it; returns the outcome, never raises."""
        headers = msg.headers or {}
        msg_id = event_id(msg)
        key = self._key(msg, msg_id)
        try:
            attempt = await self._count(key, +1)
        except Exception as exc:  # no bucket to count in: try again soon, nothing ran
            log.warning("job attempt not counted", extra={"job_kind": self.kind, "error": repr(exc)})
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
            return "unsettled"
        if attempt > self.max_attempts:
            # The last run settled nothing: the process died in it. Do not run it again.
            last = Job(kind=self.kind, msg_id=msg_id, payload=msg.data, attempt=attempt - 1, msg=msg)
            return await self._dead_letter(last, key, f"not settled after {attempt - 1} runs")
        job = Job(kind=self.kind, msg_id=msg_id, payload=msg.data, attempt=attempt, msg=msg)
        rid_token = request_id_var.set(headers.get(REQUEST_ID_HEADER))
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = asyncio.get_running_loop().time()
        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            async with deadline:
                await self.handler(job)
        except Defer as defer:
            with contextlib.suppress(Exception):
                await self._count(key, -1)  # not an attempt (if this is lost, it counts as one)
            delay = defer.delay()
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            JOBS_SETTLED.labels(self.service, self.kind, "deferred").inc()
            log.info(
                "job deferred",
                extra={
                    "job_kind": self.kind,
                    "job_id": msg_id,
                    "delay": round(delay, 3),
                    "reason": defer.reason,
                },
            )
            return "deferred"
        except PermanentFailure as exc:
            return await self._dead_letter(job, key, describe_failure(exc))
        except Exception as exc:
            reason = "job timed out" if deadline.expired() else describe_failure(exc)
            if attempt >= self.max_attempts:
                return await self._dead_letter(job, key, reason)
            delay = self.retry_delay(attempt)
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            JOBS_SETTLED.labels(self.service, self.kind, "retried").inc()
            log.warning(
                "job failed; will retry",
                extra={
                    "job_kind": self.kind,
                    "job_id": msg_id,
                    "attempt": attempt,
                    "delay": round(delay, 3),
                    "reason": reason,
                },
            )
            return "retried"
        finally:
            heartbeat.cancel()
            JOB_DURATION.labels(self.service, self.kind).observe(asyncio.get_running_loop().time() - started)
            request_id_var.reset(rid_token)
        try:
            await msg.ack_sync()
        except Exception as exc:
            # The work is done (and idempotent): a redelivery runs it again, harmlessly.
            log.warning("job ack failed", extra={"job_kind": self.kind, "error": repr(exc)})
            return "unsettled"
        await self._forget(key)
        JOBS_SETTLED.labels(self.service, self.kind, "succeeded").inc()
        return "succeeded"

    async def _dead_letter(self, job: Job, key: str, reason: str) -> str:
        """Publish the job to the dead-letter subject, tell `on_failed`, then terminate it. If
        either fails the job is kept and its next delivery tries again (the dead letter has its
        own id, so it is stored once)."""
        msg, msg_id, attempts = job.msg, job.msg_id, job.attempt
        record = None if self.on_failed is None else functools.partial(self.on_failed, job, reason)
        failure = await dead_letter_and_terminate(self, msg, msg_id, reason, attempts, record)
        if failure is not None:  # not stored or not recorded: keep the job; try again later
            log.warning("job dead-lettering failed", extra={"job_kind": self.kind, "error": repr(failure)})
            with contextlib.suppress(Exception):
                await self._count(key, -1)
                await msg.nak(delay=self.retry_delay(1))
            return "unsettled"
        await self._forget(key)
        JOBS_SETTLED.labels(self.service, self.kind, "failed").inc()
        log.error(
            "job dead-lettered",
            extra={
                "job_kind": self.kind,
                "job_id": msg_id,
                "attempts": attempts,
                "reason": reason,
                "dead_letter_subject": self.dead_letters,
            },
        )
        return "failed"

    async def report_depth(self) -> int:
        info = await self.js.consumer_info(self.stream, self.durable)
        depth = int(info.num_pending + info.num_ack_pending)
        JOB_QUEUE_DEPTH.labels(self.service, self.kind).set(depth)
        return depth

    async def _worker(self) -> None:
        sub = await self.js.pull_subscribe_bind(self.durable, stream=self.stream)
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=1.0)
                except NatsTimeoutError:
                    continue
                except Exception as exc:
                    log.warning("job fetch failed", extra={"job_kind": self.kind, "error": repr(exc)})
                    await self._pause(1.0)
                    continue
                for msg in msgs:
                    await self.deliver(msg)
        finally:
            await unsubscribe(sub)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        """Set up (retrying while NATS is away), then run `concurrency` workers until `stop`;
        a job being run when `stop` comes is finished and settled first."""
        while not self._stopping.is_set():
            try:
                await self.setup()
                break
            except Exception as exc:
                log.warning("job queue setup failed", extra={"job_kind": self.kind, "error": repr(exc)})
                await self._pause(1.0)
        if self._stopping.is_set():
            return
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(Exception):
                    await self.report_depth()
                await self._pause(10.0)
        except asyncio.CancelledError:
            for worker in workers:  # killed rather than stopped: the jobs in progress stay unacked
                worker.cancel()
            raise
        finally:
            await asyncio.gather(*workers, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()


T = TypeVar("T")


@dataclass(frozen=True)
class PeriodicTask(Generic[T]):
    """`fn` run every `interval` seconds (+/- `jitter` of it) by each process of the service,
    one run at a time. In Kubernetes schedules are CronJobs that enqueue jobs; this is for
    in-process timers and the dev stack's loop. `fn` receives the service runtime."""

    name: str
    interval: float
    fn: Callable[[T], Awaitable[None]]
    jitter: float = 0.1
    run_at_start: bool = False


class PeriodicRunner(Generic[T]):
    """Runs one periodic task until `stop`; a run in progress when `stop` comes is finished."""

    def __init__(self, service: str, task: PeriodicTask[T], arg: T) -> None:
        self.service = service
        self.task = task
        self.arg = arg
        self.runs = 0
        self._stopping = asyncio.Event()
        for outcome in ("ok", "failed"):
            PERIODIC_RUNS.labels(service, task.name, outcome)

    def _next_delay(self) -> float:
        jitter = self.task.interval * self.task.jitter
        return max(0.0, self.task.interval + random.uniform(-jitter, jitter))  # noqa: S311 - jitter

    async def run(self) -> None:
        delay = 0.0 if self.task.run_at_start else self._next_delay()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                await self.task.fn(self.arg)
                PERIODIC_RUNS.labels(self.service, self.task.name, "ok").inc()
            except Exception:
                PERIODIC_RUNS.labels(self.service, self.task.name, "failed").inc()
                log.exception("periodic task failed", extra={"task": self.task.name})
            self.runs += 1
            delay = self._next_delay()

    def stop(self) -> None:
        self._stopping.set()
