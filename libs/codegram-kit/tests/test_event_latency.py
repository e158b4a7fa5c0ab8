"""Events leave as soon as their change commits and reach a waiting consumer as soon as they are
in the stream: neither the relay's poll nor the consumer's fetch timeout is a floor on latency."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from nats.aio.msg import Msg

from codegram_kit.messaging.outbox import Outbox, OutboxRelay
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_commit_wakes_the_relay_before_its_next_poll(schema, js) -> None:
    name, db = schema.name, schema.db
    subject = f"codegram.kit{name}.user.updated"
    outbox = Outbox(schema.outbox)
    # A poll far longer than the wait below: only the commit can have sent the events on time.
    relay = OutboxRelay(name, db, schema.outbox, js, poll_interval=30.0, wake=outbox.committed)
    sub = await js.subscribe(subject)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)  # the relay has found nothing and sleeps
        for round_ in range(3):
            user_id = str(uuid.uuid4())
            async with db.unit_of_work() as session:
                await outbox.add(session, subject, events_pb2.UserUpdated(user_id=user_id))
            msg = await sub.next_msg(timeout=5)
            assert events_pb2.UserUpdated.FromString(msg.data).user_id == user_id, round_

        # A transaction that rolls back wakes nobody and sends nothing.
        class Abandon(Exception):
            pass

        with contextlib.suppress(Abandon):
            async with db.unit_of_work() as session:
                await outbox.add(session, subject, events_pb2.UserUpdated(user_id="never"))
                raise Abandon
        with contextlib.suppress(TimeoutError):
            unexpected = await sub.next_msg(timeout=0.5)
            raise AssertionError(f"a rolled back event was sent: {unexpected.data!r}")
    finally:
        relay.stop()
        await asyncio.wait_for(running, 5)
        await sub.unsubscribe()


async def test_a_waiting_consumer_gets_each_event_at_once(schema, js) -> None:
    subject = f"codegram.kit{schema.name}.thing.created"
    handled: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def handler(_session, msg: Msg) -> None:
        await handled.put((msg.data.decode(), loop.time()))

    consumer = schema.consumer(js, subject, handler)
    running = asyncio.create_task(consumer.run())
    latencies: list[float] = []
    try:
        for i in range(6):
            # Idle across whole fetch cycles, then an event at a different point of the cycle.
            await asyncio.sleep(1.1 + 0.3 * i)
            sent = loop.time()
            await js.publish(subject, str(i).encode(), headers={"Nats-Msg-Id": f"{schema.name}-{i}"})
            data, at = await asyncio.wait_for(handled.get(), 5)
            assert data == str(i)
            latencies.append(at - sent)
        # Milliseconds each; a batch fetch after an idle one held some of them for most of a
        # second (the event went to the pull request the idle fetch had left behind).
        assert sum(latency > 0.25 for latency in latencies) <= 1, latencies

        # A backlog is still taken whole, in order.
        for i in range(6, 131):
            await js.publish(subject, str(i).encode(), headers={"Nats-Msg-Id": f"{schema.name}-{i}"})
        backlog = [(await asyncio.wait_for(handled.get(), 10))[0] for _ in range(6, 131)]
        assert backlog == [str(i) for i in range(6, 131)]
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 5)


async def test_a_backlog_is_worked_through_a_few_at_a_time_when_the_consumer_allows_it(schema, js) -> None:
    subject = f"codegram.kit{schema.name}.slow.created"
    running_now, most = 0, 0
    done: asyncio.Queue[str] = asyncio.Queue()

    async def handler(_session, msg: Msg) -> None:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        await asyncio.sleep(0.2)  # waiting on I/O, as a push waits on the database and a peer
        running_now -= 1
        await done.put(msg.data.decode())

    consumer = schema.consumer(js, subject, handler, concurrency=4)
    for i in range(20):
        await js.publish(subject, str(i).encode(), headers={"Nats-Msg-Id": f"{schema.name}-slow-{i}"})
    running = asyncio.create_task(consumer.run())
    try:
        handled = {await asyncio.wait_for(done.get(), 10) for _ in range(20)}
        assert handled == {str(i) for i in range(20)}
        assert most == 4  # never more at once than allowed, and that many when a backlog waits
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 5)


async def test_a_batch_is_published_at_once_and_stored_in_order(schema, js) -> None:
    name, db = schema.name, schema.db
    subject = f"codegram.kit{name}.user.updated"
    outbox = Outbox(schema.outbox)
    async with db.unit_of_work() as session:
        for i in range(150):
            await outbox.add(session, subject, events_pb2.UserUpdated(user_id=str(i)))
    relay = OutboxRelay(name, db, schema.outbox, js, batch_size=100)
    sent = [await relay.publish_batch() for _ in range(3)]
    assert sent == [100, 50, 0]
    sub = await js.pull_subscribe(subject, durable=f"{name}-order")
    stored: list[str] = []
    while len(stored) < 150:
        for msg in await sub.fetch(150 - len(stored), timeout=5):
            stored.append(events_pb2.UserUpdated.FromString(msg.data).user_id)
            await msg.ack()
    assert stored == [str(i) for i in range(150)]
