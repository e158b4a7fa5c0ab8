"""Pushes each new notification to every open connection of its recipient (`notification-push`).

One replica takes each `codegram.social.notification.created` (a durable consumer) and publishes
the notification, as GET /api/v1/notifications shows it, once on the recipient's push subject;
every replica holding a WebSocket or Socket.IO connection of the recipient hears it
(realtime.py, socket_io.py). A notification deleted before its push (its content went) is not
pushed.
"""

from __future__ import annotations

from uuid import UUID

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import social_pb2
from codegram_social import realtime
from codegram_social.events import NOTIFICATION_CREATED
from codegram_social.notifications import render_notifications


def _notification_id(msg: Msg) -> UUID:
    try:
        return UUID(social_pb2.NotificationCreated.FromString(msg.data).notification_id)
    except (DecodeError, ValueError) as exc:
        raise ValueError("unreadable notification event") from exc  # dead-lettered, kept


def notification_push(runtime: ServiceRuntime) -> IdempotentConsumer:
    async def handle_many(session: AsyncSession, msgs: list[Msg]) -> None:
        ids = [_notification_id(msg) for msg in msgs]
        # One read and one call to the users service for the batch.
        found = await render_notifications(runtime, session, ids)
        if not found:
            return
        nc = runtime.nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("nats is not connected")  # retried: the pushes are still due
        for notification_id in ids:
            if notification_id in found:
                recipient, notification = found[notification_id]
                await realtime.push(nc, str(recipient), {"type": "notification", "data": notification})

    async def handle(session: AsyncSession, msg: Msg) -> None:
        await handle_many(session, [msg])

    return runtime.consumer(
        "notification-push",
        [NOTIFICATION_CREATED],
        handle,
        # A backlog is taken a fetched batch at a time: one transaction, one read and one users
        # call for the batch instead of one each per push.
        batch_handler=handle_many,
        # Each push waits on the database and the users service: what is handled one by one (a
        # redelivery) is handled a few at a time (the order of pushes is no promise).
        concurrency=4,
    )
