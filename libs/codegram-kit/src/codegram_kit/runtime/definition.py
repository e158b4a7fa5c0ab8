"""One service process: HTTP and gRPC servers, the outbox relay, consumers, job queues and periodic
tasks, drained on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from grpc import aio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from redis.asyncio import Redis
from starlette.routing import BaseRoute

from codegram_kit.db import migrations
from codegram_kit.db.engine import Database, create_engine
from codegram_kit.grpc.client import create_channel
from codegram_kit.grpc.server import GrpcServer
from codegram_kit.messaging import streams
from codegram_kit.messaging.consumer import Handler, IdempotentConsumer, ReplayOutcome
from codegram_kit.messaging.jobs import (
    JobClient,
    JobQueue,
    PeriodicRunner,
    PeriodicTask,
    ensure_job_stream,
)
from codegram_kit.messaging.outbox import Outbox, OutboxRelay
from codegram_kit.runtime.logging import configure_logging
from codegram_kit.runtime.readiness import ReadinessCheck, degradable
from codegram_kit.runtime.settings import ServiceSettings
from codegram_kit.runtime.stalls import StallWatch, settle_heap
from codegram_kit.runtime.tracing import configure_tracing
from codegram_kit.web.app import create_app
from codegram_kit.web.tokens import TokenVerifier

log = logging.getLogger("codegram.service")

ConsumerFactory = Callable[["ServiceRuntime"], IdempotentConsumer]
GrpcRegistrar = Callable[["ServiceRuntime", aio.Server], Iterable[str]]
JobQueueFactory = Callable[["ServiceRuntime"], JobQueue]
# A route the service serves with an ASGI app of its own (a Socket.IO server, say).
RouteFactory = Callable[["ServiceRuntime"], BaseRoute]


class ServiceRuntime:
    """The shared resources of one service process, built from its settings at start-up."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metadata: sa.MetaData,
        outbox_table: sa.Table,
        processed_table: sa.Table,
        uses_redis: bool = False,
    ) -> None:
        self.settings = settings
        self.metadata = metadata
        self.db = Database(create_engine(settings.database_url, settings.schema, settings.db_pool_size))
        self.outbox = Outbox(outbox_table)
        self.outbox_table = outbox_table
        self.processed_table = processed_table
        self.verifier = TokenVerifier.from_settings(settings)
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[IdempotentConsumer] = []
        self.jobs: JobClient | None = None  # enqueues this service's jobs once messaging started
        self.job_queues: list[JobQueue] = []
        self.periodic: list[PeriodicRunner[ServiceRuntime]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._connecting: asyncio.Task[None] | None = None
        self.redis: Redis | None = None
        self._channels: dict[str, aio.Channel] = {}
        if uses_redis:
            if not settings.redis_url:
                raise ValueError(f"{settings.service_name} needs REDIS_URL")
            # Short: a request that needs Redis answers 503 at once when it is down or hung, rather
            # than holding the client (the keys it serves are small and local).
            self.redis = Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def consumer(
        self, name: str, subjects: Sequence[str], handler: Handler, **options: Any
    ) -> IdempotentConsumer:
        """A durable consumer `<service>-<name>` of `subjects` in this process's database, for a
        service's consumer factory (`consumers=`), which runs once messaging has started."""
        if self.js is None:
            raise RuntimeError("consumers are built once messaging has started")
        return IdempotentConsumer(
            service=self.settings.service_name,
            name=name,
            subjects=list(subjects),
            db=self.db,
            processed_table=self.processed_table,
            js=self.js,
            handler=handler,
            **options,
        )

    def channel(self, target: str) -> aio.Channel:
        """One long-lived gRPC channel per target (deadline, request id and trace on every call)."""
        if target not in self._channels:
            self._channels[target] = create_channel(target, self.settings.grpc_default_timeout_seconds)
        return self._channels[target]

    async def close_channels(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def nats_ready(self) -> None:
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError("nats is not connected")
        await self.nc.flush(timeout=2)

    def readiness(self) -> dict[str, ReadinessCheck]:
        """What /readyz reports; see docs/operations.md ("Health") for why each is what it is.

        Postgres holds everything a service answers: without it, not ready. NATS only carries
        events: the outbox keeps every write until it is back, and consumers catch up. Redis holds
        short-lived state and caches: the calls that need it answer 503 by themselves.
        """
        checks: dict[str, ReadinessCheck] = {
            "database": self.db.ping,
            "nats": degradable(self.nats_ready),
        }
        if self.redis is not None:
            checks["redis"] = degradable(self.redis.ping)
        return checks

    async def start_messaging(
        self,
        consumer_factories: Sequence[ConsumerFactory],
        job_factories: Sequence[JobQueueFactory] = (),
        periodic: Sequence[PeriodicTask[ServiceRuntime]] = (),
    ) -> None:
        """Start the outbox relay and periodic tasks now, and the consumers and job queues once
        NATS answers: a process starts, and serves, while NATS is down."""
        self.nc = NATS()
        self.js = self.nc.jetstream()
        self.jobs = JobClient(self.settings.service_name, self.js, self.outbox)
        nc = self.nc
        self.relay = OutboxRelay(
            self.settings.service_name,
            self.db,
            self.outbox_table,
            self.js,
            poll_interval=self.settings.outbox_poll_interval_seconds,
            connected=lambda: nc.is_connected,
            wake=self.outbox.committed,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for task in periodic:
            runner = PeriodicRunner(self.settings.service_name, task, self)
            self.periodic.append(runner)
            self._tasks.append(asyncio.create_task(runner.run(), name=f"periodic-{task.name}"))
        self._connecting = asyncio.create_task(
            self._connect(consumer_factories, job_factories), name="nats-connect"
        )

    async def _connect(
        self, consumer_factories: Sequence[ConsumerFactory], job_factories: Sequence[JobQueueFactory] = ()
    ) -> None:
        assert self.nc is not None and self.js is not None
        await streams.connect(
            self.settings.nats_url, f"codegram-{self.settings.service_name}", client=self.nc
        )
        while True:
            try:
                await streams.ensure_stream(self.js)
                if job_factories:  # before the relay publishes a job enqueued through the outbox
                    await ensure_job_stream(self.js, self.settings.service_name)
                break
            except Exception as exc:  # JetStream still starting, or NATS gone again
                log.warning("stream not ready; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
        for factory in consumer_factories:
            consumer = factory(self)
            self.consumers.append(consumer)
            self._tasks.append(asyncio.create_task(consumer.run(), name=consumer.durable))
        for job_factory in job_factories:
            queue = job_factory(self)
            self.job_queues.append(queue)
            self._tasks.append(asyncio.create_task(queue.run(), name=queue.durable))
        log.info(
            "messaging started",
            extra={
                "consumers": [c.durable for c in self.consumers],
                "job_queues": [q.durable for q in self.job_queues],
            },
        )

    async def stop_messaging(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self.relay:
            self.relay.stop()
        for consumer in self.consumers:
            consumer.stop()
        for queue in self.job_queues:
            queue.stop()
        for runner in self.periodic:
            runner.stop()
        if self._tasks:
            # A job or periodic run in progress gets the shutdown grace to finish and settle.
            _, pending = await asyncio.wait(
                self._tasks, timeout=max(5.0, self.settings.shutdown_grace_seconds)
            )
            for task in pending:
                task.cancel()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                if self.nc.is_connected:
                    await self.nc.drain()
                else:
                    await self.nc.close()

    async def replay_dead_letters(
        self, consumer_factories: Sequence[ConsumerFactory], only: str | None = None
    ) -> dict[str, ReplayOutcome]:
        """Run each consumer's dead letters through its handler again, from this process."""
        name = f"codegram-{self.settings.service_name}-replay"
        self.nc = await streams.connect(self.settings.nats_url, name, retry=False)
        self.js = self.nc.jetstream()
        try:
            consumers = [factory(self) for factory in consumer_factories]
            chosen = [c for c in consumers if only is None or only in (c.name, c.durable)]
            if not chosen:
                known = ", ".join(c.name for c in consumers) or "none"
                raise ValueError(f"no consumer {only!r} in {self.settings.service_name} (it has: {known})")
            return {c.durable: await c.replay_dead_letters() for c in chosen}
        finally:
            await self.nc.close()


def build_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    routers: Sequence[Any] = (),
    grpc_registrars: Sequence[GrpcRegistrar] = (),
    consumers: Sequence[ConsumerFactory] = (),
    jobs: Sequence[JobQueueFactory] = (),
    periodic: Sequence[PeriodicTask[ServiceRuntime]] = (),
    asgi_routes: Sequence[RouteFactory] = (),
) -> FastAPI:
    """The FastAPI app whose lifespan is the process: it starts and drains gRPC and messaging too."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        grpc_server = GrpcServer(settings.service_name, settings.grpc_port)
        for registrar in grpc_registrars:
            grpc_server.register(functools.partial(registrar, runtime))
        await grpc_server.start()
        await runtime.start_messaging(consumers, jobs, periodic)
        stalls = StallWatch(settings.service_name)
        stalls.start()
        log.info("service started", extra={"http_port": settings.http_port, "grpc_port": settings.grpc_port})
        try:
            yield
        finally:
            # uvicorn has stopped taking requests; now drain gRPC, then messaging, then the pool.
            await stalls.stop()
            await grpc_server.stop(settings.shutdown_grace_seconds)
            await runtime.stop_messaging()
            await runtime.close_channels()
            await runtime.db.dispose()
            if runtime.redis is not None:
                await runtime.redis.aclose()
            log.info("service stopped")

    app = create_app(settings.service_name, title=title, readiness=runtime.readiness(), lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = runtime.verifier
    for router in routers:
        app.include_router(router)
    for factory in asgi_routes:
        app.router.routes.append(factory(runtime))
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        server_header=False,
        access_log=False,  # the request context middleware writes the one access line
    )
    settle_heap()
    uvicorn.Server(config).run()


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that makes one service what it is; the kit does the rest.

    A service module declares one of these and exposes `SERVICE.main` as its console script.
    """

    name: str
    models: ModuleType  # with `metadata`, `outbox` and `processed_events`
    migrations_dir: Path
    settings_class: type[ServiceSettings] = ServiceSettings
    routers: Sequence[Any] = ()
    grpc_registrars: Sequence[GrpcRegistrar] = ()
    consumers: Sequence[ConsumerFactory] = ()
    jobs: Sequence[JobQueueFactory] = ()  # one work-queue consumer per job kind
    periodic: Sequence[PeriodicTask[ServiceRuntime]] = ()  # in-process timers (see jobs.py)
    uses_redis: bool = False
    asgi_routes: Sequence[RouteFactory] = ()  # served by an ASGI app of their own, outside OpenAPI

    def settings(self, **overrides: Any) -> ServiceSettings:
        overrides.setdefault("service_name", self.name)
        return self.settings_class(**overrides)

    def runtime(self, settings: ServiceSettings) -> ServiceRuntime:
        return ServiceRuntime(
            settings,
            metadata=self.models.metadata,
            outbox_table=self.models.outbox,
            processed_table=self.models.processed_events,
            uses_redis=self.uses_redis,
        )

    def create_app(self, settings: ServiceSettings) -> FastAPI:
        return build_service_app(
            self.runtime(settings),
            title=f"CodeGram {self.name}",
            routers=self.routers,
            grpc_registrars=self.grpc_registrars,
            consumers=self.consumers,
            jobs=self.jobs,
            periodic=self.periodic,
            asgi_routes=self.asgi_routes,
        )

    async def replay_dead_letters(
        self, settings: ServiceSettings, consumer: str | None = None
    ) -> dict[str, ReplayOutcome]:
        runtime = self.runtime(settings)
        try:
            return await runtime.replay_dead_letters(self.consumers, consumer)
        finally:
            await runtime.close_channels()
            await runtime.db.dispose()
            if runtime.redis is not None:
                await runtime.redis.aclose()

    def main(self, argv: Sequence[str] | None = None) -> int:
        """`codegram-<svc> [serve]`, `codegram-<svc> migrate` or
        `codegram-<svc> replay-dead-letters [--consumer NAME]`."""
        settings = self.settings()
        parser = argparse.ArgumentParser(prog=f"codegram-{self.name}")
        parser.add_argument(
            "command", nargs="?", default="serve", choices=["serve", "migrate", "replay-dead-letters"]
        )
        parser.add_argument("--consumer", help="replay-dead-letters: only this consumer's (default: all)")
        args = parser.parse_args(argv if argv is not None else sys.argv[1:])
        configure_logging(self.name, settings.log_level, settings.log_format)
        if args.command == "migrate":
            migrations.upgrade(
                settings.database_url, settings.schema, self.migrations_dir, self.models.metadata
            )
            log.info("migrations applied", extra={"schema": settings.schema})
            return 0
        if args.command == "replay-dead-letters":
            try:
                outcomes = asyncio.run(self.replay_dead_letters(settings, args.consumer))
            except ValueError as exc:
                parser.error(str(exc))
            report = {durable: outcome.as_dict() for durable, outcome in outcomes.items()}
            sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")  # the answer, for scripts
            return 1 if any(o.failed for o in outcomes.values()) else 0
        configure_tracing(self.name, settings.otel_exporter_otlp_endpoint)
        serve(self.create_app(settings), settings)
        return 0
