"""Events leave as soon as their change commits and reach a waiting consumer as soon as they are
in the stream: neither the relay's poll nor the consumer's fetch timeout is a floor on latency."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
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
        await asyncio.sleep(0.5)  # subscribed, and waiting for the first event
        for i in range(5):
            await asyncio.sleep(0.3)  # somewhere inside the consumer's one-second fetch
            sent = loop.time()
            await js.publish(subject, str(i).encode(), headers={"Nats-Msg-Id": f"{schema.name}-{i}"})
            data, at = await asyncio.wait_for(handled.get(), 5)
            assert data == str(i)
            latencies.append(at - sent)
        # The fetch's first pull request is no_wait with an expiry: the server delivers the first
        # event as soon as it is there and ends the request, rather than holding it until the
        # batch fills or the fetch times out (about 0.7 s here). Milliseconds, in fact.
        assert statistics.median(latencies) < 0.35, latencies

        # A backlog is still taken whole, in order.
        for i in range(5, 130):
            await js.publish(subject, str(i).encode(), headers={"Nats-Msg-Id": f"{schema.name}-{i}"})
        backlog = [(await asyncio.wait_for(handled.get(), 10))[0] for _ in range(5, 130)]
        assert backlog == [str(i) for i in range(5, 130)]
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 5)
