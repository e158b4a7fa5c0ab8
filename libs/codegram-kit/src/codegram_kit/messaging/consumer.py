"""Idempotent durable consumers (ack after commit), and the dead letters of the events a consumer
could not handle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError
from opentelemetry import context as otel_context
from psycopg import sql as pg_sql
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.db.engine import Database
from codegram_kit.messaging.raw import Statement, driver, table_name
from codegram_kit.messaging.streams import MSG_ID_HEADER, STREAM_NAME, subjects_overlap
from codegram_kit.runtime.context import REQUEST_ID_HEADER, request_id_var
from codegram_kit.runtime.metrics import CONSUMER_PENDING, EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from codegram_kit.runtime.tracing import extract

log = logging.getLogger("codegram.events")

# Dead letters live in the same stream (kept as long as the events, replayable), on subjects no
# consumer may listen to: `codegram.deadletter.<service>.<consumer name>`.
DEAD_LETTER_PREFIX = "codegram.deadletter"
# What a dead letter adds to the original message's headers (its payload is the original's).
DEAD_LETTER_SUBJECT = "CodeGram-Dead-Letter-Subject"
DEAD_LETTER_EVENT_ID = "CodeGram-Dead-Letter-Event-Id"
DEAD_LETTER_CONSUMER = "CodeGram-Dead-Letter-Consumer"
DEAD_LETTER_ATTEMPTS = "CodeGram-Dead-Letter-Attempts"
DEAD_LETTER_REASON = "CodeGram-Dead-Letter-Reason"
_DEAD_LETTER_HEADERS = frozenset(
    [
        DEAD_LETTER_SUBJECT,
        DEAD_LETTER_EVENT_ID,
        DEAD_LETTER_CONSUMER,
        DEAD_LETTER_ATTEMPTS,
        DEAD_LETTER_REASON,
    ]
)
Handler = Callable[[AsyncSession, Msg], Awaitable[None]]
# Handles several fresh events in one transaction (see IdempotentConsumer's `batch_handler`).
BatchHandler = Callable[[AsyncSession, list[Msg]], Awaitable[None]]


async def unsubscribe(sub: JetStreamContext.PullSubscription) -> None:
    """Let go of a pull subscription when its loop ends. Left subscribed, a status message that
    arrives after the last fetch (a pull request expiring) waits in its queue with nobody to read
    it, and the connection's drain at shutdown waits for it until the drain timeout (30 s). What
    was fetched and not acknowledged is redelivered after the ack wait."""
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def event_id(msg: Msg) -> str:
    headers = msg.headers or {}
    return headers.get(MSG_ID_HEADER) or f"seq-{msg.metadata.sequence.stream}"


def _pending_after(msg: Msg) -> int:
    """How many messages the consumer still had for delivery after this one."""
    try:
        return int(msg.metadata.num_pending or 0)
    except Exception:  # not a JetStream delivery
        return 0


def dead_letter_subject(service: str, name: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{service}.{name}"


def describe_failure(exc: BaseException) -> str:
    """The reason a dead letter carries: the error's type and first line, never its details
    (SQL errors carry statement parameters), on one line as a header must be."""
    first_line = next(iter(str(exc).splitlines()), "").strip()
    return f"{type(exc).__name__}: {first_line}"[:300] if first_line else type(exc).__name__


async def publish_dead_letter(
    js: JetStreamContext,
    msg: Msg,
    *,
    subject: str,
    consumer: str,
    event_id: str,
    reason: str,
    attempts: int,
) -> None:
    """Publish `msg`, whole, to the dead-letter `subject` with why and after how many attempts;
    raises when JetStream did not store it (the caller keeps the message then)."""
    headers = {k: v for k, v in (msg.headers or {}).items() if k not in _DEAD_LETTER_HEADERS}
    headers.update(
        {
            # Its own id: a dead letter published twice (a crash before the term) is one.
            MSG_ID_HEADER: f"deadletter:{consumer}:{event_id}",
            DEAD_LETTER_SUBJECT: msg.subject,
            DEAD_LETTER_EVENT_ID: event_id,
            DEAD_LETTER_CONSUMER: consumer,
            DEAD_LETTER_ATTEMPTS: str(attempts),
            DEAD_LETTER_REASON: reason.replace("\r", " ").replace("\n", " "),
        }
    )
    await js.publish(subject, msg.data, headers=headers)


class DeadLettering(Protocol):
    """What dead-letters its messages: an event consumer or a job queue."""

    js: JetStreamContext
    service: str
    durable: str
    dead_letters: str


async def dead_letter_and_terminate(
    owner: DeadLettering,
    msg: Msg,
    event_id: str,
    reason: str,
    attempts: int,
    record: Callable[[], Awaitable[None]] | None = None,
) -> Exception | None:
    """Publish `msg`, whole, to `owner`'s dead-letter subject, run `record` (what must also hold
    before the message goes), then terminate the message and count it. Returns the error instead,
    with the message left as it was, when publishing or `record` failed: the caller keeps it, and
    its next delivery tries again (the dead letter has its own id, so it is stored once)."""
    try:
        await publish_dead_letter(
            owner.js,
            msg,
            subject=owner.dead_letters,
            consumer=owner.durable,
            event_id=event_id,
            reason=reason,
            attempts=attempts,
        )
        if record is not None:
            await record()
    except Exception as exc:
        return exc
    with contextlib.suppress(Exception):  # if lost, the redelivery dead-letters it again (same id)
        await msg.term()
    EVENTS_DEAD_LETTERED.labels(owner.service, owner.durable).inc()
    return None


@dataclass
class ReplayOutcome:
    """What a replay of one consumer's dead letters did."""

    replayed: int = 0  # the handler ran and committed
    already_handled: int = 0  # handled before (an earlier replay, or a late redelivery)
    failed: int = 0  # failed again: still dead, replayed again next time

    def as_dict(self) -> dict[str, int]:
        return {"replayed": self.replayed, "already_handled": self.already_handled, "failed": self.failed}


class IdempotentConsumer:
    """A durable pull consumer whose handler runs once per event id, in the service's transaction.

    The processed-event row and the handler's writes commit together; only then is the message
    acknowledged. A redelivery after a crash finds the row and is acknowledged without effect.
    A message whose handler still fails on its `max_deliver`th delivery is published, whole, to
    the consumer's dead-letter subject and terminated; `replay_dead_letters` runs them again.
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
        retry_base_seconds: float = 0.5,
        concurrency: int = 1,
        batch_handler: BatchHandler | None = None,
        relevant: Callable[[Msg], bool] | None = None,
        linger_seconds: float = 0.0,
    ) -> None:
        for subject in subjects:
            if subjects_overlap(subject, f"{DEAD_LETTER_PREFIX}.>"):
                raise ValueError(f"a consumer must not listen to dead letters: {subject!r}")
        for token in (service, name):
            if not token or any(c in token for c in ".*> \t"):
                raise ValueError(f"not a subject token: {token!r}")
        if max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.service = service
        self.name = name
        self.durable = f"{service}-{name}"
        self.subjects = subjects
        self.dead_letters = dead_letter_subject(service, name)
        self.db = db
        self.processed = processed_table
        self.js = js
        self.handler = handler
        self.batch = batch
        # Above 1, the messages of a batch are handled that many at a time, in no set order: for
        # handlers that wait on I/O and whose events need no order among themselves.
        self.concurrency = concurrency
        # Optional: what `handler` does for one event, done for all the first deliveries of a
        # fetched batch in one transaction (one processed-rows insert, and whatever the handler
        # can share, such as one read and one remote call for all). If that transaction fails,
        # each event of the batch goes through `handler` alone, with its own retries.
        self.batch_handler = batch_handler
        # Optional: False for a message whose handling would change nothing (an event about
        # another kind of subject on a shared subject): acknowledged without a transaction.
        self.relevant = relevant
        # Optional, with a batch size above 1: an event that finds the consumer idle waits this
        # long for the ones behind it, which are then handled with it (one transaction for a
        # batch handler). For consumers whose effect may lag a little (counters), not for those
        # on a latency path (pushes).
        if linger_seconds < 0:
            raise ValueError("linger_seconds must not be negative")
        self.linger_seconds = linger_seconds
        self.max_deliver = max_deliver
        self.retry_base_seconds = retry_base_seconds
        self._stopping = asyncio.Event()
        # The processed-event row, claimed on psycopg directly: it runs once per event.
        self._mark = Statement(
            pg_sql.SQL(
                "INSERT INTO {t} (consumer, event_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING RETURNING event_id"
            ).format(t=table_name(processed_table))
        )
        self._mark_many = Statement(
            pg_sql.SQL(
                "INSERT INTO {t} (consumer, event_id) SELECT %s, unnest(%s::text[])"
                " ON CONFLICT DO NOTHING RETURNING event_id"
            ).format(t=table_name(processed_table))
        )
        # The series exists from the start, at 0, so an alert on its increase sees the first one.
        EVENTS_DEAD_LETTERED.labels(service, self.durable)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff between deliveries (about 4 minutes over 10 deliveries)."""
        return min(60.0, self.retry_base_seconds * 2**attempt)

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            # JetStream never gives up on its own (it would drop the message without a trace):
            # this consumer counts deliveries and dead-letters what exhausts `max_deliver`.
            max_deliver=-1,
            filter_subjects=self.subjects,
        )
        try:
            info = await self.js.consumer_info(STREAM_NAME, self.durable)
            if info.config.max_deliver not in (None, -1):
                await self.js.add_consumer(STREAM_NAME, config)  # create-or-update: older config
        except NotFoundError:
            await self.js.add_consumer(STREAM_NAME, config)
        return await self.js.pull_subscribe_bind(self.durable, stream=STREAM_NAME)

    async def _run_handler(self, msg: Msg) -> bool:
        """The handler and the processed-event row in one transaction; False for a duplicate."""
        eid = event_id(msg)
        headers = msg.headers or {}
        rid_token = request_id_var.set(headers.get(REQUEST_ID_HEADER))
        ctx_token = otel_context.attach(extract(headers))
        try:
            async with self.db.unit_of_work() as session:
                connection = await driver(session)
                inserted = await connection.execute(self._mark.text(connection), (self.durable, eid))
                fresh = await inserted.fetchone() is not None
                if fresh:
                    await self.handler(session, msg)
            return fresh
        finally:
            otel_context.detach(ctx_token)
            request_id_var.reset(rid_token)

    async def handle(self, msg: Msg) -> bool:
        """Process one message; True when the handler ran, False when it was a duplicate."""
        fresh = await self._run_handler(msg)
        await msg.ack()
        EVENTS_CONSUMED.labels(self.service, self.durable, "handled" if fresh else "duplicate").inc()
        return fresh

    async def deliver(self, msg: Msg) -> None:
        """One delivery from JetStream: handled, retried later, or dead-lettered; never raises."""
        attempt = msg.metadata.num_delivered if msg.metadata else 1
        if attempt > self.max_deliver:
            # A final delivery that settled nothing: the process died in it, or the dead letter
            # could not be published. Do not run the handler again (it may be what kills us).
            await self.dead_letter(msg, f"not settled after {attempt - 1} deliveries", attempt)
            return
        try:
            fresh = await self._run_handler(msg)
        except Exception as exc:
            EVENTS_CONSUMED.labels(self.service, self.durable, "failed").inc()
            log.exception("event handler failed", extra={"consumer": self.durable, "attempt": attempt})
            if attempt >= self.max_deliver:
                await self.dead_letter(msg, describe_failure(exc), attempt)
            else:
                with contextlib.suppress(Exception):
                    await msg.nak(delay=self.retry_delay(attempt))
            return
        try:
            await msg.ack()
        except Exception as exc:
            # Committed: the redelivery finds the processed row and is acknowledged without effect.
            log.warning("ack failed", extra={"consumer": self.durable, "error": repr(exc)})
            return
        EVENTS_CONSUMED.labels(self.service, self.durable, "handled" if fresh else "duplicate").inc()

    async def dead_letter(self, msg: Msg, reason: str, attempts: int) -> None:
        """Publish the message, whole, to the dead-letter subject, then terminate it."""
        eid = event_id(msg)
        failure = await dead_letter_and_terminate(self, msg, eid, reason, attempts)
        if failure is not None:
            # Not stored: keep the message (JetStream redelivers it; see `deliver`).
            log.warning(
                "dead-lettering failed; will retry", extra={"consumer": self.durable, "error": repr(failure)}
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.retry_delay(attempts))
            return
        EVENTS_CONSUMED.labels(self.service, self.durable, "dead_lettered").inc()
        log.error(
            "event dead-lettered",
            extra={
                "consumer": self.durable,
                "subject": msg.subject,
                "event_id": eid,
                "attempts": attempts,
                "reason": reason,
                "dead_letter_subject": self.dead_letters,
            },
        )

    async def replay_dead_letters(self) -> ReplayOutcome:
        """Run the handler again on every dead letter of this consumer still in the stream.

        Each one is rebuilt as the original message, with its original event id, and goes through
        the processed-event table like any delivery: one already handled (by an earlier replay)
        is skipped, so replaying twice changes nothing, and only this consumer sees it again.
        """
        outcome = ReplayOutcome()
        seq = 1
        while True:
            try:
                raw = await self.js.get_msg(STREAM_NAME, seq=seq, subject=self.dead_letters, next=True)
            except NotFoundError:
                return outcome
            seq = (raw.seq or seq) + 1
            dead = dict(raw.headers or {})
            original_headers = {k: v for k, v in dead.items() if k not in _DEAD_LETTER_HEADERS}
            original_headers[MSG_ID_HEADER] = dead.get(DEAD_LETTER_EVENT_ID, "")
            original = Msg(
                _client=self.js._nc,  # a stand-in never acknowledged: the handler only reads it
                subject=dead.get(DEAD_LETTER_SUBJECT, ""),
                data=raw.data or b"",
                headers=original_headers,
            )
            try:
                fresh = await self._run_handler(original)
            except Exception as exc:
                outcome.failed += 1
                log.warning(
                    "dead letter failed again",
                    extra={
                        "consumer": self.durable,
                        "event_id": original_headers[MSG_ID_HEADER],
                        "reason": describe_failure(exc),
                    },
                )
                continue
            if fresh:
                outcome.replayed += 1
                EVENTS_CONSUMED.labels(self.service, self.durable, "replayed").inc()
            else:
                outcome.already_handled += 1

    async def _report_lag(self) -> None:
        with contextlib.suppress(Exception):
            info = await self.js.consumer_info(STREAM_NAME, self.durable)
            CONSUMER_PENDING.labels(self.service, self.durable).set(info.num_pending + info.num_ack_pending)

    async def _subscribe_until_done(self) -> JetStreamContext.PullSubscription | None:
        while not self._stopping.is_set():
            try:
                return await self.subscribe()
            except Exception as exc:  # NATS went away again: keep trying
                log.warning("consumer subscribe failed", extra={"consumer": self.durable, "error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
        return None

    async def run(self) -> None:
        sub = await self._subscribe_until_done()
        if sub is None:
            return
        try:
            await self._consume(sub)
        finally:
            await unsubscribe(sub)

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        last_report = 0.0
        loop = asyncio.get_running_loop()
        backlog = False
        while not self._stopping.is_set():
            if loop.time() - last_report > 10:
                last_report = loop.time()
                await self._report_lag()
            try:
                # A batch fetch that finds nothing leaves a pull request behind it at the server,
                # alive for another timeout; the next event goes to it, and the next batch fetch
                # holds that event until its own timeout (up to a second). So one at a time while
                # idle (returned as soon as it arrives, nothing left behind), and batches only
                # while JetStream says more are pending (taken at once; the short timeout bounds
                # the wait when another replica took them first).
                if backlog:
                    msgs = await sub.fetch(self.batch, timeout=0.05)
                else:
                    msgs = await sub.fetch(1, timeout=1.0)
                    if self.linger_seconds and self.batch > 1:
                        msgs += await self._linger(sub)
            except NatsTimeoutError:
                backlog = False
                continue
            except Exception as exc:
                log.warning("consumer fetch failed", extra={"consumer": self.durable, "error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            backlog = self.batch > 1 and bool(msgs) and _pending_after(msgs[-1]) > 0
            await self._dispatch(msgs)

    async def _linger(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """What arrived while the first event waited `linger_seconds` (taken at once: a request
        that finds some leaves nothing pending at the server)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.linger_seconds)
        try:
            return await sub.fetch(self.batch - 1, timeout=0.05)
        except NatsTimeoutError:
            return []

    async def _dispatch(self, msgs: list[Msg]) -> None:
        """A fetched batch: what is not for this consumer acknowledged at once, the rest handled."""
        if self.relevant is not None:
            msgs = await self._acknowledge_irrelevant(msgs)
        if self.batch_handler is not None and len(msgs) > 1:
            await self._deliver_batch(msgs)
        elif self.concurrency == 1 or len(msgs) <= 1:
            for msg in msgs:
                await self.deliver(msg)
        else:
            await self._deliver_concurrently(msgs)

    async def _acknowledge_irrelevant(self, msgs: list[Msg]) -> list[Msg]:
        """The messages `relevant` keeps; the others are acknowledged without a transaction or a
        processed row (their handling would change nothing, so it needs no record). A message the
        predicate cannot judge is kept: the handler decides, with its retries."""
        assert self.relevant is not None
        kept: list[Msg] = []
        skipped = 0
        for msg in msgs:
            try:
                keep = self.relevant(msg)
            except Exception:
                keep = True
            if keep:
                kept.append(msg)
                continue
            skipped += 1
            with contextlib.suppress(Exception):  # if lost, the redelivery is skipped again
                await msg.ack()
        if skipped:
            EVENTS_CONSUMED.labels(self.service, self.durable, "skipped").inc(skipped)
        return kept

    async def _deliver_batch(self, msgs: list[Msg]) -> None:
        """First deliveries together in one transaction; redeliveries (and, if the transaction
        fails, every message of the batch) one by one through `deliver`, which counts attempts,
        retries and dead-letters."""
        assert self.batch_handler is not None
        first: list[Msg] = []
        again: list[Msg] = []
        for msg in msgs:
            (first if not msg.metadata or msg.metadata.num_delivered <= 1 else again).append(msg)
        handled = 0
        if first:
            try:
                handled = await self._run_batch_handler(first)
            except Exception:
                log.warning(
                    "batch handler failed; handling one by one",
                    exc_info=True,
                    extra={"consumer": self.durable, "events": len(first)},
                )
                again = msgs
            else:
                for msg in first:
                    try:
                        await msg.ack()
                    except Exception as exc:  # committed: a redelivery is acknowledged without effect
                        log.warning("ack failed", extra={"consumer": self.durable, "error": repr(exc)})
                EVENTS_CONSUMED.labels(self.service, self.durable, "handled").inc(handled)
                if len(first) > handled:
                    EVENTS_CONSUMED.labels(self.service, self.durable, "duplicate").inc(len(first) - handled)
        if again:
            if self.concurrency == 1:
                for msg in again:
                    await self.deliver(msg)
            else:
                await self._deliver_concurrently(again)

    async def _run_batch_handler(self, msgs: list[Msg]) -> int:
        """The processed rows of `msgs` and the batch handler on the fresh ones, in one
        transaction; returns how many were fresh."""
        assert self.batch_handler is not None
        ids = [event_id(m) for m in msgs]
        async with self.db.unit_of_work() as session:
            connection = await driver(session)
            inserted = await connection.execute(self._mark_many.text(connection), (self.durable, ids))
            fresh_ids = {row[0] for row in await inserted.fetchall()}
            fresh: list[Msg] = []
            for eid, msg in zip(ids, msgs, strict=True):
                if eid in fresh_ids:
                    fresh_ids.discard(eid)  # a copy of an event in the same batch runs once
                    fresh.append(msg)
            if fresh:
                await self.batch_handler(session, fresh)
        return len(fresh)

    async def _deliver_concurrently(self, msgs: list[Msg]) -> None:
        slots = asyncio.Semaphore(self.concurrency)

        async def one(msg: Msg) -> None:
            async with slots:
                await self.deliver(msg)  # never raises

        await asyncio.gather(*(one(msg) for msg in msgs))

    def stop(self) -> None:
        self._stopping.set()
