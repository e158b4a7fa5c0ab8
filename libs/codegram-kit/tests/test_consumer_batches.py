"""A consumer with a batch handler: the first deliveries of a fetched batch in one transaction,
each event still once, and one by one when the batch fails (real Postgres and JetStream)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from nats.aio.msg import Msg

from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.messaging.streams import STREAM_NAME


async def _publish(js, subject: str, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for event_id in ids:
        await js.publish(subject, event_id.encode(), headers={"Nats-Msg-Id": event_id})
    return ids


async def _processed(schema, consumer: IdempotentConsumer) -> set[str]:
    table = schema.processed
    async with schema.db.sessions() as session:
        rows = await session.execute(sa.select(table.c.event_id).where(table.c.consumer == consumer.durable))
        return set(rows.scalars())


async def _fetch(consumer: IdempotentConsumer, count: int) -> list[Msg]:
    sub = await consumer.subscribe()
    msgs: list[Msg] = []
    while len(msgs) < count:
        msgs += await sub.fetch(count - len(msgs), timeout=5)
    return msgs


async def test_a_batch_is_handled_in_one_transaction_and_events_handled_before_are_skipped(
    schema, js
) -> None:
    subject = f"codegram.kit{schema.name}.thing.batched"
    singles: list[str] = []
    batches: list[list[str]] = []

    async def handler(session, msg: Msg) -> None:
        singles.append(msg.data.decode())

    async def batch_handler(session, msgs: list[Msg]) -> None:
        batches.append([m.data.decode() for m in msgs])

    consumer = schema.consumer(js, subject, handler, name="batched", batch_handler=batch_handler)
    ids = await _publish(js, subject, 5)
    # The first was handled before (by another replica, or before a crash lost its ack).
    async with schema.db.unit_of_work() as session:
        await session.execute(sa.insert(schema.processed).values(consumer=consumer.durable, event_id=ids[0]))

    msgs = await _fetch(consumer, 5)
    await consumer._deliver_batch(msgs)

    assert batches == [ids[1:]]
    assert singles == []
    assert await _processed(schema, consumer) == set(ids)
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0  # every one acknowledged


async def test_a_failing_batch_is_rolled_back_and_its_events_handled_one_by_one(schema, js) -> None:
    subject = f"codegram.kit{schema.name}.thing.unbatched"
    singles: list[str] = []

    async def handler(session, msg: Msg) -> None:
        singles.append(msg.data.decode())

    async def batch_handler(session, msgs: list[Msg]) -> None:
        raise RuntimeError("one of them is bad")

    consumer = schema.consumer(js, subject, handler, name="unbatched", batch_handler=batch_handler)
    ids = await _publish(js, subject, 3)

    msgs = await _fetch(consumer, 3)
    await consumer._deliver_batch(msgs)

    assert sorted(singles) == sorted(ids)  # each once, by the single handler
    assert await _processed(schema, consumer) == set(ids)
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_messages_the_consumer_has_no_use_for_are_acknowledged_without_a_transaction(
    schema, js
) -> None:
    subject = f"codegram.kit{schema.name}.thing.mixed"
    singles: list[str] = []
    batches: list[list[str]] = []

    async def handler(session, msg: Msg) -> None:
        singles.append(msg.data.decode())

    async def batch_handler(session, msgs: list[Msg]) -> None:
        batches.append([m.data.decode() for m in msgs])

    def relevant(msg: Msg) -> bool:
        if msg.data.startswith(b"bad"):
            raise ValueError("cannot judge")
        return msg.data.startswith(b"mine")

    consumer = schema.consumer(
        js, subject, handler, name="mixed", batch_handler=batch_handler, relevant=relevant
    )
    bodies = ["mine-1", "other-1", "mine-2", "other-2", "bad-1"]
    for body in bodies:
        await js.publish(subject, body.encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    msgs = await _fetch(consumer, 5)
    ids = {m.data.decode(): m.headers["Nats-Msg-Id"] for m in msgs}
    await consumer._dispatch(msgs)

    # What it has use for (and what it cannot judge) is handled, once, with its processed rows.
    assert batches == [["mine-1", "mine-2", "bad-1"]] and singles == []
    assert await _processed(schema, consumer) == {ids["mine-1"], ids["mine-2"], ids["bad-1"]}
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0  # the others acknowledged too


async def test_a_single_irrelevant_message_is_acknowledged_and_nothing_runs(schema, js) -> None:
    subject = f"codegram.kit{schema.name}.thing.notmine"
    singles: list[str] = []

    async def handler(session, msg: Msg) -> None:
        singles.append(msg.data.decode())

    consumer = schema.consumer(js, subject, handler, name="notmine", relevant=lambda m: False)
    await js.publish(subject, b"other", headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await consumer._dispatch(await _fetch(consumer, 1))
    assert singles == [] and await _processed(schema, consumer) == set()
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_lingering_consumer_handles_an_idle_moments_events_together(schema, js) -> None:
    import asyncio

    subject = f"codegram.kit{schema.name}.thing.lingered"
    batches: list[list[str]] = []
    singles: list[str] = []

    async def handler(session, msg: Msg) -> None:
        singles.append(msg.data.decode())

    async def batch_handler(session, msgs: list[Msg]) -> None:
        batches.append([m.data.decode() for m in msgs])

    consumer = schema.consumer(
        js, subject, handler, name="lingered", batch_handler=batch_handler, linger_seconds=0.4
    )
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.sleep(1.5)  # idle: waiting on a one-message fetch
        for i in range(5):  # a burst while idle: the first waits for the rest
            await js.publish(subject, f"e{i}".encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
            await asyncio.sleep(0.02)
        deadline = asyncio.get_running_loop().time() + 5
        while sum(len(b) for b in batches) + len(singles) < 5:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 5)
    assert batches == [[f"e{i}" for i in range(5)]] and singles == []
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0
