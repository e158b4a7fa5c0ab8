"""The transactional outbox: events written with the change, published to JetStream by a relay."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from google.protobuf.message import Message
from nats.js import JetStreamContext
from psycopg import sql as pg_sql
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from codegram_kit.db.engine import Database
from codegram_kit.messaging.raw import Statement, driver, table_name
from codegram_kit.runtime.context import REQUEST_ID_HEADER, current_request_id
from codegram_kit.runtime.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from codegram_kit.runtime.tracing import inject

log = logging.getLogger("codegram.outbox")

EVENT_TYPE_HEADER = "CodeGram-Event-Type"
OCCURRED_AT_HEADER = "CodeGram-Occurred-At"
# Marks a session whose commit wakes the relay (Outbox.committed).
_WAKES_RELAY = "codegram.outbox.wakes_relay"

# Fault injection for the chaos suite (tests/chaos), read once when a relay is made: a directory
# where a file named after the service asks its relay to SIGKILL the process at the next batch
# that has events, before publishing it (the change and its outbox rows committed, nothing sent)
# or after (sent, the rows not yet deleted). Unset, the seams stay the no-ops below.
FAULT_SETTING = "CODEGRAM_OUTBOX_FAULTS"
KILL_BEFORE_PUBLISH = "kill-before-publish"
KILL_AFTER_PUBLISH = "kill-after-publish"


def messaging_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The outbox and processed-event tables, in the service's own schema."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("position", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    processed = sa.Table(
        "processed_events",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    return outbox, processed


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event as the outbox stores it."""

    event_id: uuid.UUID
    subject: str
    payload: bytes
    headers: dict[str, str]


def event_type(message: type[Message] | Message) -> dict[str, str]:
    """The header naming an event's message type (as `Outbox.add` writes it)."""
    return {EVENT_TYPE_HEADER: message.DESCRIPTOR.full_name}


class Outbox:
    def __init__(self, table: sa.Table) -> None:
        self.table = table
        # Set when a transaction that added rows commits in this process: the relay wakes on it
        # rather than at its next poll, which would be a floor on every event's latency.
        self.committed = asyncio.Event()

    async def add(self, session: AsyncSession, subject: str, message: Message) -> uuid.UUID:
        """Record an event in the caller's transaction: it is published only if that commits."""
        return await self.add_raw(session, subject, message.SerializeToString(), event_type(message))

    async def add_raw(
        self,
        session: AsyncSession,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        msg_id: str | None = None,
    ) -> uuid.UUID:
        """Record any message in the caller's transaction; the relay publishes it to whichever
        stream holds `subject` (a job under `jobs.<service>.>` goes to that service's work queue).
        `msg_id` (default: the row's own id) is its Nats-Msg-Id, so JetStream drops a copy."""
        row = self.row_raw(subject, payload, headers, msg_id=msg_id)
        await session.execute(
            sa.insert(self.table).values(
                event_id=row.event_id, subject=row.subject, payload=row.payload, headers=row.headers
            )
        )
        self.wake_after_commit(session)
        return row.event_id

    def row_raw(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        msg_id: str | None = None,
    ) -> OutboxRow:
        """The outbox row of a message, for a caller that writes it in a statement of its own
        (one round trip with the change it records); it must wake the relay when that commits."""
        event_id = uuid.uuid4()
        all_headers = {
            "Nats-Msg-Id": msg_id or str(event_id),
            **(headers or {}),
            OCCURRED_AT_HEADER: datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        rid = current_request_id()
        if rid:
            all_headers[REQUEST_ID_HEADER] = rid
        inject(all_headers)
        return OutboxRow(event_id, subject, payload, all_headers)

    def wake(self) -> None:
        """Wake the relay now: rows were committed without a session (one autocommitted statement)."""
        self.committed.set()

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Wake the relay when `session`'s transaction, which wrote outbox rows, commits."""
        if not session.info.get(_WAKES_RELAY):
            session.info[_WAKES_RELAY] = True
            sa.event.listen(session.sync_session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        # Runs in the event loop's thread (the async session's greenlet), so setting is safe.
        session.info.pop(_WAKES_RELAY, None)
        self.committed.set()


class OutboxRelay:
    """Publishes outbox rows in order and deletes them in the same transaction that locked them.

    A crash after publishing but before the delete commits leaves the rows in place: they are sent
    again with the same Nats-Msg-Id, and JetStream's duplicate window drops the copy.

    `codegram_outbox_backlog` is the number of rows waiting: 0 when a poll finds none, otherwise
    counted (at most every `backlog_interval` seconds) while the relay cannot keep up or publish.
    """

    def __init__(
        self,
        service: str,
        db: Database,
        table: sa.Table,
        js: JetStreamContext,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.2,
        backlog_interval: float = 5.0,
        connected: Callable[[], bool] | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.table = table
        self.js = js
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backlog_interval = backlog_interval
        # While NATS is away the relay only counts the backlog (a publish would wait and fail).
        self.connected = connected or (lambda: True)
        # Outbox.committed of this process; the poll stays the fallback (rows left by a crash).
        self.wake = wake
        self._stopping = asyncio.Event()
        # The oldest rows no other relay holds, deleted and returned (psycopg, one round trip).
        self._take = Statement(
            pg_sql.SQL(
                "DELETE FROM {t} WHERE position IN (SELECT position FROM {t} ORDER BY position"
                " LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING position, subject, payload, headers"
            ).format(t=table_name(table))
        )
        faults = os.environ.get(FAULT_SETTING)
        if faults:
            request = Path(faults) / service
            self._before_publish = functools.partial(_crash_if_asked, request, KILL_BEFORE_PUBLISH)  # type: ignore[method-assign]
            self._after_publish = functools.partial(_crash_if_asked, request, KILL_AFTER_PUBLISH)  # type: ignore[method-assign]

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many events went out."""
        async with self.db.unit_of_work() as session:
            # Taken and deleted in one statement, in the transaction that commits only after
            # JetStream has them all: a failure or a crash before the commit rolls the delete back
            # and leaves the rows to be sent again.
            connection = await driver(session)
            cursor = await connection.execute(self._take.text(connection), (self.batch_size,))
            rows = sorted(await cursor.fetchall())
            if not rows:
                OUTBOX_BACKLOG.labels(self.service).set(0)
                return 0
            await self._before_publish()
            # Pipelined: one after another, a batch would take one acknowledgement's round trip
            # per event. Sent in order on one connection, they are stored in order; if one fails,
            # the rows stay and the batch goes again (JetStream drops the copies by message id).
            await asyncio.gather(
                *(
                    self.js.publish(subject, bytes(payload), headers=dict(headers))
                    for _, subject, payload, headers in rows
                )
            )
            await self._after_publish()
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _before_publish(self) -> None:
        """A seam between locking committed rows and publishing them (the chaos suite crashes here)."""

    async def _after_publish(self) -> None:
        """A seam between publishing and committing the bookkeeping (tests crash here)."""

    async def backlog(self) -> int:
        async with self.db.sessions() as session:
            count = (await session.execute(sa.select(sa.func.count()).select_from(self.table))).scalar_one()
        OUTBOX_BACKLOG.labels(self.service).set(count)
        return int(count)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_count = 0.0
        while not self._stopping.is_set():
            if self.wake is not None:
                self.wake.clear()  # before the batch's query: a commit after it wakes the next
            sent, failed, waiting = 0, False, not self.connected()
            if not waiting:
                try:
                    sent = await self.publish_batch()
                except Exception as exc:  # NATS or Postgres away: keep the rows, try again later
                    log.warning("outbox relay failed; will retry", extra={"error": repr(exc)})
                    failed = True
            # Counting is a scan of what waits: only while events pile up, and not too often.
            if (waiting or failed or sent == self.batch_size) and loop.time() >= next_count:
                next_count = loop.time() + self.backlog_interval
                with contextlib.suppress(Exception):  # Postgres away: nothing to count with
                    await self.backlog()
            if waiting:
                # Cheap to check, and resumes soon after NATS is back (or at once after a commit,
                # as at start-up, when NATS connects within moments of the first check).
                await self._pause(1.0, self.wake)
            elif failed:
                await self._pause(min(5.0, self.poll_interval * 10))
            elif sent < self.batch_size:
                await self._pause(self.poll_interval, self.wake)

    async def _pause(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        if wake is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
            return
        waits = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def stop(self) -> None:
        self._stopping.set()


async def _crash_if_asked(request: Path, point: str) -> None:
    """A crash at this very point when one is asked for: no shutdown, no flush, no rollback but
    the database's own."""
    try:
        asked = request.read_text().strip()
    except FileNotFoundError:
        return
    if asked == point:
        log.warning("outbox fault injected: killing the process", extra={"fault": point})
        # Lines are written at the end of the loop's turn, which a SIGKILL never reaches.
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
