"""What the users service publishes: codegram.users.user.{created,updated}, through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.outbox import Outbox
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2
from codegram_users.domain import User

USER_CREATED = "codegram.users.user.created"
USER_UPDATED = "codegram.users.user.updated"


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


class UserEvents:
    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def created(self, user: User) -> None:
        message = events_pb2.UserCreated(
            user_id=str(user.id),
            username=user.username,
            full_name=user.full_name,
            avatar_url=user.avatar_url,
            occurred_at=_now(),
        )
        await self.outbox.add(self.session, USER_CREATED, message)

    async def updated(self, user: User, changed: Iterable[str]) -> None:
        message = events_pb2.UserUpdated(
            user_id=str(user.id),
            username=user.username,
            full_name=user.full_name,
            avatar_url=user.avatar_url,
            changed_fields=sorted(changed),
            occurred_at=_now(),
        )
        await self.outbox.add(self.session, USER_UPDATED, message)
