"""What the kit's tests against real Postgres and JetStream share: a JetStream context on the
fleet's stream, and a throwaway schema with the kit's outbox and processed-event tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from codegram_devstack.fleet import Fleet
from codegram_kit.db.engine import Database, create_engine, schema_metadata
from codegram_kit.messaging.consumer import DeadLettering, Handler, IdempotentConsumer
from codegram_kit.messaging.outbox import messaging_tables
from codegram_kit.messaging.streams import STREAM_NAME, connect, ensure_stream


@dataclass(frozen=True)
class MessagingSchema:
    """A schema of its own for one test, holding the kit's messaging tables."""

    name: str
    db: Database
    metadata: sa.MetaData
    outbox: sa.Table
    processed: sa.Table

    def consumer(
        self, js: JetStreamContext, subject: str, handler: Handler, *, name: str = "test", **options: Any
    ) -> IdempotentConsumer:
        """A consumer of `subject` in this schema's service."""
        return IdempotentConsumer(
            service=self.name,
            name=name,
            subjects=[subject],
            db=self.db,
            processed_table=self.processed,
            js=js,
            handler=handler,
            **options,
        )


@pytest.fixture
def schema_name() -> str:
    """The throwaway schema's name (a module whose schema must be named after its service overrides it)."""
    return f"kit_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def schema(engines: Fleet, schema_name: str) -> AsyncIterator[MessagingSchema]:
    engine = create_engine(engines.admin_url(), schema_name)
    metadata = schema_metadata(schema_name)
    outbox, processed = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
        await conn.run_sync(metadata.create_all)
    db = Database(engine)
    yield MessagingSchema(schema_name, db, metadata, outbox, processed)
    await db.dispose()


@pytest.fixture
async def js(engines: Fleet) -> AsyncIterator[JetStreamContext]:
    nc = await connect(engines.nats_url, "kit-tests", retry=False)  # type: ignore[arg-type]
    jetstream = nc.jetstream()
    await ensure_stream(jetstream)
    yield jetstream
    await nc.close()


@pytest.fixture
def read_dead_letters(
    js: JetStreamContext,
) -> Callable[[DeadLettering], Awaitable[list[RawStreamMsg]]]:
    """Reads every dead letter of a consumer or job queue still in the stream, oldest first."""

    async def read(owner: DeadLettering) -> list[RawStreamMsg]:
        found, seq = [], 1
        while True:
            try:
                raw = await js.get_msg(STREAM_NAME, seq=seq, subject=owner.dead_letters, next=True)
            except NotFoundError:
                return found
            found.append(raw)
            seq = raw.seq + 1

    return read
