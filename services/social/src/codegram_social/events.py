"""What the social service publishes through the outbox (codegram.social.follow.*, like.*, comment.*
and notification.created), written in the transaction of the change.

The session revocations that close sockets are heard by every replica on core NATS, in realtime.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.outbox import Outbox
from codegram_proto.codegram.events.v1 import social_pb2

if TYPE_CHECKING:
    from codegram_social.content import Subject

FOLLOW_CREATED = "codegram.social.follow.created"
FOLLOW_DELETED = "codegram.social.follow.deleted"
LIKE_CREATED = "codegram.social.like.created"
LIKE_DELETED = "codegram.social.like.deleted"
COMMENT_CREATED = "codegram.social.comment.created"
COMMENT_DELETED = "codegram.social.comment.deleted"
NOTIFICATION_CREATED = "codegram.social.notification.created"


def now() -> Timestamp:
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
            self.session, FOLLOW_CREATED, social_pb2.FollowCreated(follow=follow, occurred_at=now())
        )

    async def follow_deleted(self, follower_id: UUID, followee_id: UUID) -> None:
        follow = social_pb2.Follow(follower_id=str(follower_id), followee_id=str(followee_id))
        await self.outbox.add(
            self.session, FOLLOW_DELETED, social_pb2.FollowDeleted(follow=follow, occurred_at=now())
        )

    async def like_changed(self, user_id: UUID, subject: Subject, *, liked: bool) -> None:
        await self.outbox.add(self.session, *like_event(user_id, subject, liked=liked))

    async def comment_changed(
        self, comment_id: UUID, author_id: UUID, subject: Subject, *, created: bool
    ) -> None:
        message = social_pb2.CommentCreated if created else social_pb2.CommentDeleted
        await self.outbox.add(
            self.session,
            COMMENT_CREATED if created else COMMENT_DELETED,
            message(
                comment_id=str(comment_id),
                subject=_subject(subject),
                author_id=str(author_id),
                subject_author_id=str(subject.author_id),
                occurred_at=now(),
            ),
        )

    async def notification_created(self, notification_id: UUID, recipient_id: UUID, type_: str) -> None:
        await self.outbox.add(self.session, *notification_event(notification_id, recipient_id, type_))


def like_event(user_id: UUID, subject: Subject, *, liked: bool) -> tuple[str, Message]:
    """`codegram.social.like.created|deleted` and its message."""
    message = social_pb2.LikeCreated if liked else social_pb2.LikeDeleted
    return LIKE_CREATED if liked else LIKE_DELETED, message(
        user_id=str(user_id),
        subject=_subject(subject),
        subject_author_id=str(subject.author_id),
        occurred_at=now(),
    )


def notification_event(notification_id: UUID, recipient_id: UUID, type_: str) -> tuple[str, Message]:
    """`codegram.social.notification.created` and its message."""
    return NOTIFICATION_CREATED, social_pb2.NotificationCreated(
        notification_id=str(notification_id),
        recipient_id=str(recipient_id),
        type=type_,
        occurred_at=now(),
    )


def with_placeholder(build: Callable[[str], Message]) -> tuple[bytes, int]:
    """A message serialized with a placeholder where an id goes that only the statement storing
    it knows, and the placeholder's position (1-based, as Postgres's `overlay` takes it), where
    that statement writes the id's text. The placeholder is a uuid's text, as the id's is: the
    same 36 bytes, so the encoding around it (the field's length) stays right."""
    placeholder = str(uuid4())
    payload = build(placeholder).SerializeToString()
    return payload, payload.index(placeholder.encode()) + 1


def _subject(subject: Subject) -> social_pb2.Subject:
    return social_pb2.Subject(type=subject.kind, id=str(subject.id))
