"""The github service's background work: the sync work queue (retries with exponential backoff and
jitter for GitHub's 5xx and timeouts, waits for GitHub's rate limits, dead letters once attempts are
exhausted) and what the schedules enqueue (the CronJobs' `codegram-github enqueue`, the dev loop)."""

from __future__ import annotations

import logging
import weakref
from datetime import UTC, datetime
from typing import cast

import httpx

from codegram_clients.auth import GitHubTokens
from codegram_github.config import GitHubSettings
from codegram_github.events import GitHubEvents
from codegram_github.github_client import GitHubClient, GitHubRefused, RateLimited
from codegram_github.service import (
    PROFILE,
    QUEUE_KIND,
    REPOS,
    SERVICE,
    NoGitHubToken,
    Syncer,
    SyncRequests,
    outbox_enqueuer,
)
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.consumer import describe_failure
from codegram_kit.messaging.jobs import Defer, Job, JobQueue, PeriodicTask, PermanentFailure
from codegram_kit.runtime.definition import ServiceRuntime

log = logging.getLogger("codegram.github.jobs")

# A deferred job comes back this long after GitHub's reset, so that it never arrives a moment early.
RESET_MARGIN_SECONDS = 1.0

_clients: weakref.WeakKeyDictionary[ServiceRuntime, GitHubClient] = weakref.WeakKeyDictionary()


def settings_of(runtime: ServiceRuntime) -> GitHubSettings:
    return cast(GitHubSettings, runtime.settings)


def github_client(runtime: ServiceRuntime) -> GitHubClient:
    """The process's one GitHub client (made on the event loop that uses it): one connection pool,
    and one view of each token's rate limit for the jobs and the requests alike."""
    client = _clients.get(runtime)
    if client is None:
        settings = settings_of(runtime)
        http = httpx.AsyncClient(
            timeout=settings.github_timeout_seconds,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=True,
        )
        client = GitHubClient(
            settings.github_api_url,
            http,
            concurrency_per_token=settings.github_concurrency_per_token,
            secondary_wait_seconds=settings.github_secondary_wait_seconds,
            redis=runtime.redis,
        )
        _clients[runtime] = client
    return client


def sync_queue(runtime: ServiceRuntime) -> JobQueue:
    """The `sync` work queue: one job per sync row, acked once its results are committed."""
    settings = settings_of(runtime)
    if runtime.js is None:
        raise RuntimeError("job queues are built once messaging has started")
    syncer = Syncer(
        runtime.db,
        github_client(runtime),
        GitHubTokens(runtime.channel(settings.auth_grpc_target)),
        lambda session: GitHubEvents(runtime.outbox, session),
    )

    async def handle(job: Job) -> None:
        payload = job.json()
        job_id = parse_id(payload.get("job_id") if isinstance(payload, dict) else None)
        if job_id is None:
            raise PermanentFailure("a sync job without a job id")
        sync_job = await syncer.start(job_id, job.attempt)
        if sync_job is None:
            return  # settled already: a redelivery of a job whose results were committed
        try:
            outcome = await syncer.run(sync_job)
        except RateLimited as limited:
            # Not an attempt and not a failure: back in the queue, not before GitHub's reset.
            await syncer.settle(job_id, "queued", f"waiting for GitHub: {limited.reason}")
            until = datetime.fromtimestamp(limited.until + RESET_MARGIN_SECONDS, UTC)
            raise Defer(until, limited.reason) from None
        except (NoGitHubToken, GitHubRefused) as refused:
            raise PermanentFailure(str(refused)) from None
        except Exception as exc:
            if job.attempt < settings.sync_max_attempts:
                await syncer.settle(job_id, "queued", describe_failure(exc))
            raise
        log.info(
            "sync succeeded",
            extra={
                "job_id": str(job_id),
                "sync_kind": sync_job.kind,
                "repositories": outcome.repositories,
                "unchanged": outcome.requests_unchanged,
            },
        )

    async def failed(job: Job, reason: str) -> None:
        payload = job.json()
        job_id = parse_id(payload.get("job_id") if isinstance(payload, dict) else None)
        if job_id is not None:
            await syncer.settle(job_id, "failed", reason)

    return JobQueue(
        service=SERVICE,
        kind=QUEUE_KIND,
        js=runtime.js,
        handler=handle,
        max_attempts=settings.sync_max_attempts,
        backoff_base_seconds=settings.sync_backoff_base_seconds,
        backoff_max_seconds=settings.sync_backoff_max_seconds,
        timeout_seconds=settings.sync_timeout_seconds,
        ack_wait_seconds=settings.sync_ack_wait_seconds,
        concurrency=settings.sync_concurrency,
        on_failed=failed,
    )


async def enqueue_schedule(runtime: ServiceRuntime, kind: str, now: datetime | None = None) -> dict[str, int]:
    """What a schedule's CronJob runs: one job of `kind` per eligible user for today (idempotent)."""
    requests = SyncRequests(runtime.db, outbox_enqueuer(runtime.outbox))
    counts = await requests.enqueue_scheduled(
        kind, now or datetime.now(UTC), settings_of(runtime).active_days
    )
    log.info("schedule enqueued", extra={"schedule": kind, **counts})
    return counts


_last_loop: weakref.WeakKeyDictionary[ServiceRuntime, float] = weakref.WeakKeyDictionary()


async def _schedule_loop(runtime: ServiceRuntime) -> None:
    """The dev stack's loop standing in for the CronJobs: the same enqueue, every
    SCHEDULE_LOOP_SECONDS (off unless set; on by default in development)."""
    every = settings_of(runtime).schedule_loop_seconds
    now = datetime.now(UTC)
    if not every or now.timestamp() - _last_loop.get(runtime, 0.0) < every:
        return
    _last_loop[runtime] = now.timestamp()
    for kind in (REPOS, PROFILE):
        await enqueue_schedule(runtime, kind, now)


SCHEDULE_LOOP = PeriodicTask("github-schedules", 60.0, _schedule_loop, run_at_start=True)
