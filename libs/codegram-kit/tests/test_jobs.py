"""The jobs facility against real JetStream and Postgres: a work queue with retries, deferral,
dead letters and crash redelivery, enqueued directly or through the outbox; periodic tasks; and a
service runtime that starts and drains both."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from codegram_devstack.fleet import Fleet
from codegram_kit.messaging.consumer import (
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_EVENT_ID,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SUBJECT,
)
from codegram_kit.messaging.jobs import (
    Defer,
    Job,
    JobClient,
    JobQueue,
    PeriodicRunner,
    PeriodicTask,
    job_stream_name,
)
from codegram_kit.messaging.outbox import Outbox, OutboxRelay
from codegram_kit.messaging.streams import (
    STREAM_SUBJECTS,
    subjects_overlap,
)
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.runtime.settings import ServiceSettings


@pytest.fixture
def service() -> str:
    return f"jb{uuid.uuid4().hex[:10]}"


@pytest.fixture
def schema_name(service: str) -> str:
    """The jobs' outbox lives in the schema named after their service."""
    return service


async def _eventually(condition: Callable[[], Awaitable[bool] | bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def _settled(service: str, kind: str, outcome: str) -> float:
    labels = {"service": service, "kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("codegram_jobs_total", labels) or 0.0


class Running:
    """A job queue running in the background for the length of a test."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> JobQueue:
        self.task = asyncio.create_task(self.queue.run())
        return self.queue

    async def __aexit__(self, *exc: object) -> None:
        self.queue.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)


def _queue(service: str, js, handler, **kwargs) -> JobQueue:
    kwargs.setdefault("backoff_base_seconds", 0.2)
    return JobQueue(service=service, kind="sync", js=js, handler=handler, **kwargs)


def test_the_work_queue_is_apart_from_the_event_stream() -> None:
    for subject in STREAM_SUBJECTS:
        assert not subjects_overlap("jobs.github.>", subject)
    assert job_stream_name("github") == "CODEGRAM_JOBS_GITHUB"


async def test_a_job_succeeds_and_is_acknowledged_once(js, service: str) -> None:
    runs: list[Job] = []

    async def handler(job: Job) -> None:
        runs.append(job)

    queue = _queue(service, js, handler)
    async with Running(queue):
        client = JobClient(service, js)
        assert await client.enqueue("sync", {"user_id": "u1"}, "sync:u1:1")
        await _eventually(lambda: len(runs) == 1)
        await _eventually(lambda: _settled(service, "sync", "succeeded") == 1)
        await asyncio.sleep(1.0)  # time for a redelivery, were it not acknowledged
        assert await queue.report_depth() == 0
    assert len(runs) == 1
    assert runs[0].json() == {"user_id": "u1"} and runs[0].attempt == 1 and runs[0].msg_id == "sync:u1:1"
    # Work-queue retention: an acknowledged job is gone from the stream.
    info = await js.stream_info(job_stream_name(service))
    assert info.state.messages == 0


async def test_enqueueing_the_same_msg_id_twice_runs_once(js, service: str) -> None:
    runs: list[str] = []

    async def handler(job: Job) -> None:
        runs.append(job.msg_id)

    client = JobClient(service, js)
    assert await client.enqueue("sync", b"{}", "sync:u2:day")
    assert not await client.enqueue("sync", b"{}", "sync:u2:day")
    async with Running(_queue(service, js, handler)):
        await _eventually(lambda: len(runs) == 1)
        # Enqueued again after it ran: still within the duplicate window, so nothing new.
        assert not await client.enqueue("sync", b"{}", "sync:u2:day")
        await asyncio.sleep(1.0)
    assert runs == ["sync:u2:day"]


async def test_a_failing_job_is_retried_with_growing_delays_then_succeeds(js, service: str) -> None:
    loop = asyncio.get_running_loop()
    runs: list[tuple[int, float]] = []

    async def handler(job: Job) -> None:
        runs.append((job.attempt, loop.time()))
        if len(runs) <= 2:
            raise ConnectionError("github answered 502")

    queue = _queue(service, js, handler, max_attempts=3, backoff_base_seconds=0.5, jitter=0.1)
    async with Running(queue):
        await JobClient(service, js).enqueue("sync", b"{}", "retry-1")
        await _eventually(lambda: _settled(service, "sync", "succeeded") == 1)
    assert [attempt for attempt, _ in runs] == [1, 2, 3]
    first_gap, second_gap = runs[1][1] - runs[0][1], runs[2][1] - runs[1][1]
    assert first_gap >= 0.45  # 0.5 s -10 %
    assert second_gap >= 0.9  # 1.0 s -10 %: the backoff doubles
    assert _settled(service, "sync", "retried") == 2
    assert _settled(service, "sync", "failed") == 0


async def test_a_deferred_job_waits_and_the_wait_is_not_an_attempt(js, service: str) -> None:
    loop = asyncio.get_running_loop()
    runs: list[tuple[int, float]] = []

    async def handler(job: Job) -> None:
        runs.append((job.attempt, loop.time()))
        if len(runs) <= 2:  # the rate limit resets in a second: twice, more than max_attempts allows
            raise Defer(datetime.now(UTC) + timedelta(seconds=1), "rate limited")
        if len(runs) == 3:
            raise ConnectionError("github answered 502")

    queue = _queue(service, js, handler, max_attempts=2, backoff_base_seconds=0.1)
    async with Running(queue):
        await JobClient(service, js).enqueue("sync", b"{}", "defer-1")
        await _eventually(lambda: _settled(service, "sync", "succeeded") == 1)
    # Two deferrals, then attempt 1 fails and attempt 2 succeeds: deferrals used no attempt.
    assert [attempt for attempt, _ in runs] == [1, 1, 1, 2]
    assert runs[1][1] - runs[0][1] >= 0.9 and runs[2][1] - runs[1][1] >= 0.9  # nothing before the reset
    assert _settled(service, "sync", "deferred") == 2
    assert _settled(service, "sync", "failed") == 0


async def test_exhausted_attempts_land_on_the_dead_letter_subject_with_the_reason(
    js, service: str, read_dead_letters
) -> None:
    runs: list[int] = []

    async def handler(job: Job) -> None:
        runs.append(job.attempt)
        raise TimeoutError("github did not answer\n[token: secret]")

    failures: list[tuple[int, str]] = []

    async def on_failed(job: Job, reason: str) -> None:
        failures.append((job.attempt, reason))

    queue = _queue(service, js, handler, max_attempts=3, backoff_base_seconds=0.05, on_failed=on_failed)
    labels = {"service": service, "consumer": queue.durable}
    assert REGISTRY.get_sample_value("codegram_events_dead_lettered_total", labels) == 0
    async with Running(queue):
        await JobClient(service, js).enqueue("sync", {"user_id": "u3"}, "doomed-1")

        async def one_dead_letter() -> bool:
            return len(await read_dead_letters(queue)) == 1

        await _eventually(one_dead_letter)
        await asyncio.sleep(1.0)  # time for a redelivery, were the job not terminated
        assert await queue.report_depth() == 0
    assert runs == [1, 2, 3]
    assert failures == [(3, "TimeoutError: github did not answer")]  # the service records the job failed
    (dead,) = await read_dead_letters(queue)
    assert dead.subject == f"codegram.deadletter.{service}.job-sync"
    assert json.loads(dead.data) == {"user_id": "u3"}
    assert dead.headers[DEAD_LETTER_SUBJECT] == f"jobs.{service}.sync"
    assert dead.headers[DEAD_LETTER_EVENT_ID] == "doomed-1"
    assert dead.headers[DEAD_LETTER_CONSUMER] == queue.durable
    assert dead.headers[DEAD_LETTER_ATTEMPTS] == "3"
    assert dead.headers[DEAD_LETTER_REASON] == "TimeoutError: github did not answer"  # first line only
    assert REGISTRY.get_sample_value("codegram_events_dead_lettered_total", labels) == 1
    assert _settled(service, "sync", "failed") == 1 and _settled(service, "sync", "retried") == 2


async def test_a_permanent_failure_is_dead_lettered_at_once(js, service: str, read_dead_letters) -> None:
    from codegram_kit.messaging.jobs import PermanentFailure

    runs: list[int] = []

    async def handler(job: Job) -> None:
        runs.append(job.attempt)
        raise PermanentFailure("the user revoked the token")

    queue = _queue(service, js, handler, max_attempts=5)
    async with Running(queue):
        await JobClient(service, js).enqueue("sync", b"{}", "revoked-1")

        async def one_dead_letter() -> bool:
            return len(await read_dead_letters(queue)) == 1

        await _eventually(one_dead_letter)
    assert runs == [1]
    (dead,) = await read_dead_letters(queue)
    assert dead.headers[DEAD_LETTER_REASON] == "PermanentFailure: the user revoked the token"
    assert dead.headers[DEAD_LETTER_ATTEMPTS] == "1"


async def test_a_job_whose_process_dies_mid_run_is_redelivered(js, service: str) -> None:
    started, finished = asyncio.Event(), []

    async def hangs(job: Job) -> None:
        started.set()
        await asyncio.Event().wait()  # never returns: the process is about to die

    crashed = _queue(service, js, hangs, ack_wait_seconds=1.0)
    task = asyncio.create_task(crashed.run())
    await JobClient(service, js).enqueue("sync", b"{}", "crash-1")
    await asyncio.wait_for(started.wait(), 20)
    task.cancel()  # dies: no ack, no nak, no more heartbeats
    with pytest.raises(asyncio.CancelledError):
        await task

    async def completes(job: Job) -> None:
        finished.append(job.attempt)

    async with Running(_queue(service, js, completes, ack_wait_seconds=1.0)):
        await _eventually(lambda: finished == [2])  # the crashed run counted as an attempt
        await asyncio.sleep(1.5)
    assert finished == [2]


async def test_a_long_job_is_kept_alive_by_heartbeats(js, service: str) -> None:
    runs: list[int] = []

    async def slow(job: Job) -> None:
        runs.append(job.attempt)
        await asyncio.sleep(3.0)  # three times the ack wait

    async with Running(_queue(service, js, slow, ack_wait_seconds=1.0)):
        await JobClient(service, js).enqueue("sync", b"{}", "slow-1")
        await _eventually(lambda: _settled(service, "sync", "succeeded") == 1)
    assert runs == [1]


async def test_a_job_enqueued_through_the_outbox_runs_once_its_transaction_commits(
    js, service: str, schema
) -> None:
    db, outbox_table = schema.db, schema.outbox
    client = JobClient(service, js, Outbox(outbox_table))
    runs: list[bytes] = []

    async def handler(job: Job) -> None:
        runs.append(job.payload)

    async with Running(_queue(service, js, handler)):
        with pytest.raises(RuntimeError):
            async with db.unit_of_work() as session:
                await client.enqueue_in(session, "sync", {"n": 1}, "outbox-rolled-back")
                raise RuntimeError("the change failed")
        async with db.unit_of_work() as session:
            await client.enqueue_in(session, "sync", {"n": 2}, "outbox-1")
            await client.enqueue_in(session, "sync", {"n": 2}, "outbox-1")  # the same job twice
        relay = OutboxRelay(service, db, outbox_table, js)
        assert await relay.publish_batch() == 2
        await _eventually(lambda: len(runs) == 1)
        await asyncio.sleep(1.0)
    assert [json.loads(r) for r in runs] == [{"n": 2}]


async def test_a_periodic_task_runs_repeatedly_one_at_a_time_and_stops() -> None:
    running, overlaps, runs = 0, 0, []

    async def tick(arg: str) -> None:
        nonlocal running, overlaps
        running += 1
        overlaps = max(overlaps, running)
        runs.append(arg)
        await asyncio.sleep(0.15)  # longer than the interval: the next run waits for this one
        running -= 1
        if len(runs) == 2:
            raise RuntimeError("a bad run does not stop the schedule")

    runner = PeriodicRunner("svc", PeriodicTask("tick", 0.05, tick, run_at_start=True), "rt")
    task = asyncio.create_task(runner.run())
    await _eventually(lambda: len(runs) >= 4, seconds=10)
    runner.stop()
    await asyncio.wait_for(task, 2)
    stopped_at = len(runs)
    await asyncio.sleep(0.3)
    assert len(runs) == stopped_at and overlaps == 1 and set(runs) == {"rt"}
    assert (
        REGISTRY.get_sample_value(
            "codegram_periodic_runs_total", {"service": "svc", "task": "tick", "outcome": "failed"}
        )
        == 1
    )


async def test_a_service_runtime_starts_and_drains_its_job_queues_and_periodic_tasks(
    engines: Fleet, service: str, schema
) -> None:
    metadata, outbox_table, processed = schema.metadata, schema.outbox, schema.processed
    settings = ServiceSettings(
        service_name=service,
        database_url=engines.admin_url(),
        db_schema=service,
        nats_url=engines.nats_url,
        outbox_poll_interval_seconds=0.05,
    )
    runtime = ServiceRuntime(
        settings, metadata=metadata, outbox_table=outbox_table, processed_table=processed
    )
    runs: list[dict] = []
    ticks: list[ServiceRuntime] = []
    release = asyncio.Event()

    async def handler(job: Job) -> None:
        runs.append(job.json())
        if job.json()["n"] == 2:
            await release.wait()  # in progress when the drain begins

    async def tick(rt: ServiceRuntime) -> None:
        ticks.append(rt)

    def sync_queue(rt: ServiceRuntime) -> JobQueue:
        assert rt.js is not None
        return JobQueue(service=rt.settings.service_name, kind="sync", js=rt.js, handler=handler)

    await runtime.start_messaging([], [sync_queue], [PeriodicTask("tick", 0.1, tick)])
    try:
        assert runtime.jobs is not None
        await _eventually(lambda: len(runtime.job_queues) == 1)
        await runtime.jobs.enqueue("sync", {"n": 1}, "rt-1")  # straight to JetStream
        async with runtime.db.unit_of_work() as session:  # with a transaction, via the relay
            await runtime.jobs.enqueue_in(session, "sync", {"n": 2}, "rt-2")
        await _eventually(lambda: len(runs) == 2 and len(ticks) >= 2)
        assert ticks[0] is runtime
    finally:
        stopping = asyncio.create_task(runtime.stop_messaging())
        await asyncio.sleep(0.5)
        assert not stopping.done()  # the drain waits for the job in progress
        release.set()
        await asyncio.wait_for(stopping, 15)
        await runtime.db.dispose()
    assert runs == [{"n": 1}, {"n": 2}]
    assert _settled(service, "sync", "succeeded") == 2  # the job in progress was finished and acked


async def test_a_service_definition_with_a_job_queue_starts_and_drains_it(
    engines: Fleet, service: str, schema, tmp_path
) -> None:
    from types import ModuleType

    from codegram_devstack.engines import free_port
    from codegram_kit.runtime.definition import ServiceDefinition

    metadata, outbox_table, processed = schema.metadata, schema.outbox, schema.processed
    models = ModuleType("models")
    models.metadata, models.outbox, models.processed_events = metadata, outbox_table, processed  # type: ignore[attr-defined]
    runs: list[str] = []

    async def handler(job: Job) -> None:
        runs.append(job.msg_id)

    def sync_queue(rt: ServiceRuntime) -> JobQueue:
        assert rt.js is not None
        return JobQueue(service=rt.settings.service_name, kind="sync", js=rt.js, handler=handler)

    definition = ServiceDefinition(name=service, models=models, migrations_dir=tmp_path, jobs=[sync_queue])
    settings = definition.settings(
        database_url=engines.admin_url(),
        db_schema=service,
        nats_url=engines.nats_url,
        grpc_port=free_port(),
        http_port=free_port(),
    )
    app = definition.create_app(settings)
    async with app.router.lifespan_context(app):
        runtime: ServiceRuntime = app.state.runtime
        await _eventually(lambda: len(runtime.job_queues) == 1)
        assert runtime.jobs is not None
        await runtime.jobs.enqueue("sync", b"{}", "def-1")
        await _eventually(lambda: runs == ["def-1"])
        queue_task = next(t for t in runtime._tasks if t.get_name() == runtime.job_queues[0].durable)
    assert queue_task.done() and not queue_task.cancelled()  # stopped by the drain, not killed


async def test_a_queue_runs_as_many_jobs_at_once_as_its_concurrency(js, service: str) -> None:
    running: set[str] = set()
    all_started = asyncio.Event()
    done: list[str] = []

    async def handler(job: Job) -> None:
        running.add(job.msg_id)
        if len(running) == 3:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 10)  # fails unless all three run together
        done.append(job.msg_id)

    async with Running(_queue(service, js, handler, concurrency=3)):
        client = JobClient(service, js)
        for n in range(3):
            await client.enqueue("sync", b"{}", f"par-{n}")
        await _eventually(lambda: len(done) == 3)
    assert sorted(done) == ["par-0", "par-1", "par-2"]
    assert _settled(service, "sync", "succeeded") == 3


async def test_a_job_that_runs_past_its_timeout_is_a_failed_attempt(
    js, service: str, read_dead_letters
) -> None:
    runs: list[int] = []

    async def stuck(job: Job) -> None:
        runs.append(job.attempt)
        await asyncio.sleep(60)

    queue = _queue(service, js, stuck, max_attempts=1, timeout_seconds=0.3)
    async with Running(queue):
        await JobClient(service, js).enqueue("sync", b"{}", "stuck-1")

        async def one_dead_letter() -> bool:
            return len(await read_dead_letters(queue)) == 1

        await _eventually(one_dead_letter)
    (dead,) = await read_dead_letters(queue)
    assert runs == [1] and dead.headers[DEAD_LETTER_REASON] == "job timed out"
