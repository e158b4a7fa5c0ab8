"""What the social service publishes through the outbox (codegram.social.follow.{created,deleted}),
written in the transaction of the change.

The session revocations that close sockets are heard by every replica on core NATS, in realtime.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.outbox import Outbox
from codegram_proto.codegram.events.v1 import social_pb2

FOLLOW_CREATED = "codegram.social.follow.created"
FOLLOW_DELETED = "codegram.social.follow.deleted"


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


class SocialEvents:
    """The outbox rows of social changes, in the caller's transaction."""

    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def follow_created(self, follower_id: UUID, followee_id: UUID) -> None:
        follow = social_pb2.Follow(follower_id=str(follower_id), followee_id=str(followee_id))
        await self.outbox.add(
            self.session, FOLLOW_CREATED, social_pb2.FollowCreated(follow=follow, occurred_at=_now())
        )

    async def follow_deleted(self, follower_id: UUID, followee_id: UUID) -> None:
        follow = social_pb2.Follow(follower_id=str(follower_id), followee_id=str(followee_id))
        await self.outbox.add(
            self.session, FOLLOW_DELETED, social_pb2.FollowDeleted(follow=follow, occurred_at=_now())
        )
