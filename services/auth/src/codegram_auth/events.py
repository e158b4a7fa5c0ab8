"""What the auth service publishes through the outbox: codegram.auth.user.signed_in and
codegram.auth.session.revoked (it consumes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.outbox import Outbox
from codegram_proto.codegram.events.v1 import auth_pb2 as events_pb2

SIGNED_IN = "codegram.auth.user.signed_in"
SESSION_REVOKED = "codegram.auth.session.revoked"


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


class AuthEvents:
    """The outbox rows of sign-ins and ended sessions, written in the transaction of the change."""

    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def signed_in(self, user_id: UUID, *, first_sign_in: bool) -> None:
        message = events_pb2.UserSignedIn(
            user_id=str(user_id), first_sign_in=first_sign_in, occurred_at=_now()
        )
        await self.outbox.add(self.session, SIGNED_IN, message)

    async def session_revoked(self, user_id: UUID, session_id: UUID, reason: str) -> None:
        """Told in the revoking transaction, so the sockets of that session close (social)."""
        message = events_pb2.SessionRevoked(
            user_id=str(user_id), session_id=str(session_id), reason=reason, occurred_at=_now()
        )
        await self.outbox.add(self.session, SESSION_REVOKED, message)
