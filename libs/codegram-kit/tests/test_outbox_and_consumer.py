"""The outbox relay and the idempotent consumer against real Postgres and JetStream."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg

from codegram_kit.messaging.outbox import Outbox, OutboxRelay
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2


class CrashAfterPublish(Exception):
    pass


class CrashingRelay(OutboxRelay):
    """Dies after JetStream accepted the events but before their rows are deleted."""

    async def _after_publish(self) -> None:
        raise CrashAfterPublish


async def test_event_reaches_the_consumer_exactly_once_across_a_relay_crash(schema, js) -> None:
    name, db, outbox_table = schema.name, schema.db, schema.outbox
    subject = f"codegram.kit{name}.user.updated"
    user_id = str(uuid.uuid4())

    async with db.unit_of_work() as session:
        await Outbox(outbox_table).add(
            session, subject, events_pb2.UserUpdated(user_id=user_id, changed_fields=["bio"])
        )

    with pytest.raises(CrashAfterPublish):
        await CrashingRelay(name, db, outbox_table, js).publish_batch()
    # The bookkeeping rolled back: the event is still waiting, though JetStream has it once.
    async with db.sessions() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(outbox_table))).scalar() == 1

    assert await OutboxRelay(name, db, outbox_table, js).publish_batch() == 1
    assert await OutboxRelay(name, db, outbox_table, js).publish_batch() == 0

    received: list[events_pb2.UserUpdated] = []

    async def handler(_session, msg: Msg) -> None:
        received.append(events_pb2.UserUpdated.FromString(msg.data))

    consumer = schema.consumer(js, subject, handler)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(10, timeout=2)
    for msg in msgs:
        await consumer.handle(msg)
    with pytest.raises(Exception):  # nothing else is there: the duplicate was dropped by message id
        await sub.fetch(1, timeout=0.5)

    assert len(msgs) == 1
    assert [(e.user_id, list(e.changed_fields)) for e in received] == [(user_id, ["bio"])]


async def test_a_redelivered_event_is_handled_once(schema, js) -> None:
    name = schema.name
    subject = f"codegram.kit{name}.thing.created"
    calls: list[str] = []

    async def handler(session, msg: Msg) -> None:
        calls.append(msg.headers["Nats-Msg-Id"])

    consumer = schema.consumer(js, subject, handler)
    sub = await consumer.subscribe()
    await js.publish(subject, b"", headers={"Nats-Msg-Id": "evt-1"})
    first = (await sub.fetch(1, timeout=2))[0]
    real_ack = first.ack

    async def lost_ack() -> None:  # the process dies after its commit, before the ack
        return None

    first.ack = lost_ack  # type: ignore[method-assign]
    assert await consumer.handle(first) is True
    first.ack = real_ack  # type: ignore[method-assign]
    await first.nak()  # JetStream redelivers, as it would once ack_wait ran out
    again = (await sub.fetch(1, timeout=2))[0]
    assert again.metadata.num_delivered == 2
    assert await consumer.handle(again) is False
    assert calls == ["evt-1"]


async def test_a_failing_handler_commits_nothing_and_is_retried(schema, js) -> None:
    name, db, processed = schema.name, schema.db, schema.processed
    subject = f"codegram.kit{name}.thing.failed"
    attempts = 0

    async def handler(session, msg: Msg) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")

    consumer = schema.consumer(js, subject, handler)
    await js.publish(subject, b"", headers={"Nats-Msg-Id": "evt-retry"})
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(100):
            if attempts >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 5)
    assert attempts == 2
    async with db.sessions() as session:
        rows = (await session.execute(sa.select(processed.c.event_id))).scalars().all()
    assert rows == ["evt-retry"]
