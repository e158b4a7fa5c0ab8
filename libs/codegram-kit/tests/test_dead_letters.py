"""Events a consumer gives up on are dead-lettered whole, counted, and replayable, against real
Postgres and JetStream; and the outbox backlog gauge counts what waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import REGISTRY

from codegram_kit.messaging.consumer import (
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_EVENT_ID,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SUBJECT,
    IdempotentConsumer,
)
from codegram_kit.messaging.outbox import Outbox, OutboxRelay
from codegram_kit.messaging.streams import STREAM_NAME, subjects_overlap
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2


def _consumer(schema, js, subject: str, handler, max_deliver: int = 3) -> IdempotentConsumer:
    return schema.consumer(
        js, subject, handler, name="counts", max_deliver=max_deliver, retry_base_seconds=0.05
    )


def _dead_lettered(consumer: IdempotentConsumer) -> float:
    labels = {"service": consumer.service, "consumer": consumer.durable}
    return REGISTRY.get_sample_value("codegram_events_dead_lettered_total", labels) or 0.0


async def _eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_message_that_keeps_failing_is_dead_lettered_then_replayed_once(
    schema, js, read_dead_letters
) -> None:
    name, db, processed = schema.name, schema.db, schema.processed
    subject = f"codegram.kit{name}.thing.counted"
    payload = events_pb2.UserUpdated(user_id=str(uuid.uuid4()), changed_fields=["bio"]).SerializeToString()
    failing, calls = True, []

    async def handler(session, msg: Msg) -> None:
        calls.append((msg.subject, msg.data, msg.headers["Nats-Msg-Id"]))
        if failing:
            raise RuntimeError("postgres is away\n[parameters: secret@example.com]")

    consumer = _consumer(schema, js, subject, handler, max_deliver=3)
    assert _dead_lettered(consumer) == 0  # the series exists before the first one, for alerts
    headers = {"Nats-Msg-Id": "evt-dl-1", "CodeGram-Event-Type": "codegram.events.v1.UserUpdated"}
    await js.publish(subject, payload, headers=headers)
    task = asyncio.create_task(consumer.run())
    try:

        async def one_dead_letter() -> bool:
            return len(await read_dead_letters(consumer)) == 1

        await _eventually(one_dead_letter)
        await asyncio.sleep(1.0)  # time for a redelivery, were the message not terminated
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 5)

    assert calls == [(subject, payload, "evt-dl-1")] * 3  # max_deliver attempts, then no more
    [dead] = await read_dead_letters(consumer)
    assert dead.subject == f"codegram.deadletter.{name}.counts"
    assert dead.data == payload
    assert dead.headers[DEAD_LETTER_SUBJECT] == subject
    assert dead.headers[DEAD_LETTER_EVENT_ID] == "evt-dl-1"
    assert dead.headers[DEAD_LETTER_CONSUMER] == f"{name}-counts"
    assert dead.headers[DEAD_LETTER_ATTEMPTS] == "3"
    # The reason names the error without its details (statement parameters stay out).
    assert dead.headers[DEAD_LETTER_REASON] == "RuntimeError: postgres is away"
    assert dead.headers["CodeGram-Event-Type"] == "codegram.events.v1.UserUpdated"
    assert _dead_lettered(consumer) == 1
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.num_pending == 0 and info.num_ack_pending == 0  # terminated, not waiting
    async with db.sessions() as session:
        assert (await session.execute(sa.select(processed.c.event_id))).scalars().all() == []

    # Replayed while it still fails: kept for the next replay.
    outcome = await consumer.replay_dead_letters()
    assert outcome.as_dict() == {"replayed": 0, "already_handled": 0, "failed": 1}

    failing = False
    outcome = await consumer.replay_dead_letters()
    assert outcome.as_dict() == {"replayed": 1, "already_handled": 0, "failed": 0}
    assert calls[-1] == (subject, payload, "evt-dl-1")  # the original message, original event id
    async with db.sessions() as session:
        rows = (await session.execute(sa.select(processed.c.consumer, processed.c.event_id))).all()
    assert [tuple(r) for r in rows] == [(f"{name}-counts", "evt-dl-1")]

    # Replaying again changes nothing: the processed-event table knows it.
    before = len(calls)
    outcome = await consumer.replay_dead_letters()
    assert outcome.as_dict() == {"replayed": 0, "already_handled": 1, "failed": 0}
    assert len(calls) == before


async def test_a_message_past_its_last_delivery_is_dead_lettered_without_running_again(
    schema, js, read_dead_letters
) -> None:
    name = schema.name
    subject = f"codegram.kit{name}.thing.crashing"
    calls = 0

    async def handler(session, msg: Msg) -> None:
        nonlocal calls
        calls += 1

    consumer = _consumer(schema, js, subject, handler, max_deliver=2)
    sub = await consumer.subscribe()
    await js.publish(subject, b"x", headers={"Nats-Msg-Id": "evt-crash"})
    for _ in range(2):  # two deliveries that settle nothing, as a process dying in the handler would
        msg = (await sub.fetch(1, timeout=5))[0]
        await msg.nak()
    third = (await sub.fetch(1, timeout=5))[0]
    assert third.metadata.num_delivered == 3
    await consumer.deliver(third)
    assert calls == 0
    [dead] = await read_dead_letters(consumer)
    assert dead.headers[DEAD_LETTER_REASON] == "not settled after 2 deliveries"
    assert dead.headers[DEAD_LETTER_ATTEMPTS] == "3"
    assert (await consumer.replay_dead_letters()).replayed == 1 and calls == 1


async def test_a_consumer_made_with_a_jetstream_delivery_limit_is_updated(schema, js) -> None:
    name = schema.name
    subject = f"codegram.kit{name}.thing.old"

    async def handler(session, msg: Msg) -> None:
        return None

    consumer = _consumer(schema, js, subject, handler)
    # As earlier versions made it: JetStream itself dropped the message after 10 deliveries.
    await js.add_consumer(
        STREAM_NAME,
        ConsumerConfig(
            durable_name=consumer.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_deliver=10,
            filter_subjects=[subject],
        ),
    )
    await consumer.subscribe()
    info = await js.consumer_info(STREAM_NAME, consumer.durable)
    assert info.config.max_deliver == -1


@pytest.mark.parametrize(
    "subject", ["codegram.>", "codegram.*.users.counts", "codegram.deadletter.users.counts", ">"]
)
def test_no_consumer_may_listen_to_dead_letters(subject: str) -> None:
    with pytest.raises(ValueError, match="dead letters"):
        IdempotentConsumer(
            service="users",
            name="counts",
            subjects=[subject],
            db=None,  # type: ignore[arg-type]
            processed_table=None,  # type: ignore[arg-type]
            js=None,  # type: ignore[arg-type]
            handler=None,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("codegram.snippets.snippet.created", "codegram.deadletter.>", False),
        ("codegram.*.snippet.created", "codegram.deadletter.>", True),
        ("codegram.snippets.>", "codegram.deadletter.>", False),
        ("codegram.deadletter", "codegram.deadletter.>", False),
        ("a.*", "a.b.c", False),
        ("a.*.c", "a.b.*", True),
    ],
)
def test_subjects_overlap(a: str, b: str, overlap: bool) -> None:
    assert subjects_overlap(a, b) is overlap
    assert subjects_overlap(b, a) is overlap


async def test_the_outbox_backlog_gauge_counts_what_waits_while_nats_is_away(schema, js) -> None:
    name, db, outbox_table = schema.name, schema.db, schema.outbox
    subject = f"codegram.kit{name}.thing.waiting"
    async with db.unit_of_work() as session:
        for _ in range(3):
            await Outbox(outbox_table).add(session, subject, events_pb2.UserUpdated())

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("codegram_outbox_backlog", {"service": name})

    nats_up = False
    relay = OutboxRelay(name, db, outbox_table, js, poll_interval=0.05, connected=lambda: nats_up)
    task = asyncio.create_task(relay.run())
    try:

        async def counted(expected: float) -> bool:
            return gauge() == expected

        await _eventually(lambda: counted(3))
        nats_up = True
        await _eventually(lambda: counted(0))
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)
    async with db.sessions() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(outbox_table))).scalar() == 0
