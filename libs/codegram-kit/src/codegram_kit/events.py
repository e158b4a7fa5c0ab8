"""NATS JetStream: the connection, the stream, and idempotent durable consumers (ack after commit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from opentelemetry import context as otel_context
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.context import REQUEST_ID_HEADER, request_id_var
from codegram_kit.db import Database
from codegram_kit.metrics import CONSUMER_PENDING, EVENTS_CONSUMED
from codegram_kit.tracing import extract

log = logging.getLogger("codegram.events")

STREAM_NAME = "CODEGRAM"
STREAM_SUBJECTS = ["codegram.>"]
# How long JetStream remembers a Nats-Msg-Id: a relay that comes back within it cannot duplicate.
DUPLICATE_WINDOW_SECONDS = 15 * 60

Handler = Callable[[AsyncSession, Msg], Awaitable[None]]


async def connect(url: str, name: str) -> NATS:
    async def _disconnected() -> None:
        log.warning("nats disconnected")

    async def _reconnected() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=7 * 24 * 3600,
    )
    try:
        await js.stream_info(STREAM_NAME)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


def event_id(msg: Msg) -> str:
    headers = msg.headers or {}
    return headers.get("Nats-Msg-Id") or f"seq-{msg.metadata.sequence.stream}"


class IdempotentConsumer:
    """A durable pull consumer whose handler runs once per event id, in the service's transaction.

    The processed-event row and the handler's writes commit together; only then is the message
    acknowledged. A redelivery after a crash finds the row and is acknowledged without effect.
    """

    def __init__(
        self,
        *,
        service: str,
        name: str,
        subjects: list[str],
        db: Database,
        processed_table: sa.Table,
        js: JetStreamContext,
        handler: Handler,
        batch: int = 50,
        max_deliver: int = 10,
    ) -> None:
        self.service = service
        self.durable = f"{service}-{name}"
        self.subjects = subjects
        self.db = db
        self.processed = processed_table
        self.js = js
        self.handler = handler
        self.batch = batch
        self.max_deliver = max_deliver
        self._stopping = asyncio.Event()

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_deliver=self.max_deliver,
            filter_subjects=self.subjects,
        )
        try:
            await self.js.consumer_info(STREAM_NAME, self.durable)
        except NotFoundError:
            await self.js.add_consumer(STREAM_NAME, config)
        return await self.js.pull_subscribe_bind(self.durable, stream=STREAM_NAME)

    async def handle(self, msg: Msg) -> bool:
        """Process one message; True when the handler ran, False when it was a duplicate."""
        eid = event_id(msg)
        headers = msg.headers or {}
        rid_token = request_id_var.set(headers.get(REQUEST_ID_HEADER))
        ctx_token = otel_context.attach(extract(headers))
        try:
            async with self.db.unit_of_work() as session:
                inserted = await session.execute(
                    pg_insert(self.processed)
                    .values(consumer=self.durable, event_id=eid)
                    .on_conflict_do_nothing()
                    .returning(self.processed.c.event_id)
                )
                fresh = inserted.first() is not None
                if fresh:
                    await self.handler(session, msg)
            await msg.ack()
            EVENTS_CONSUMED.labels(self.service, self.durable, "handled" if fresh else "duplicate").inc()
            return fresh
        finally:
            otel_context.detach(ctx_token)
            request_id_var.reset(rid_token)

    async def _report_lag(self) -> None:
        with contextlib.suppress(Exception):
            info = await self.js.consumer_info(STREAM_NAME, self.durable)
            CONSUMER_PENDING.labels(self.service, self.durable).set(info.num_pending + info.num_ack_pending)

    async def run(self) -> None:
        sub = await self.subscribe()
        last_report = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if loop.time() - last_report > 10:
                last_report = loop.time()
                await self._report_lag()
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except NatsTimeoutError:
                continue
            except Exception as exc:
                log.warning("consumer fetch failed", extra={"consumer": self.durable, "error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                try:
                    await self.handle(msg)
                except Exception:
                    EVENTS_CONSUMED.labels(self.service, self.durable, "failed").inc()
                    log.exception("event handler failed", extra={"consumer": self.durable})
                    attempt = msg.metadata.num_delivered if msg.metadata else 1
                    await msg.nak(delay=min(60.0, 0.5 * 2**attempt))

    def stop(self) -> None:
        self._stopping.set()
