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
from codegram_social.notifications import render_notification


def notification_push(runtime: ServiceRuntime) -> IdempotentConsumer:
    async def handle(session: AsyncSession, msg: Msg) -> None:
        try:
            event = social_pb2.NotificationCreated.FromString(msg.data)
            notification_id = UUID(event.notification_id)
        except (DecodeError, ValueError) as exc:
            raise ValueError("unreadable notification event") from exc  # dead-lettered, kept
        notification = await render_notification(runtime, session, notification_id)
        if notification is None:
            return
        nc = runtime.nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("nats is not connected")  # retried: the push is still due
        await realtime.push(nc, event.recipient_id, {"type": "notification", "data": notification})

    return runtime.consumer(
        "notification-push",
        [NOTIFICATION_CREATED],
        handle,
        # Each push waits on the database and the users service: a backlog is worked through a
        # few at a time (each holds a pooled connection; the order of pushes is no promise).
        concurrency=4,
    )
