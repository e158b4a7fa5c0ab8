"""`likes_count` and `comments_count` of snippets and docs, kept from the social service's like and
comment events (`codegram.social.like.*`, `codegram.social.comment.*`).

A like or a comment is +1 and its removal -1 whatever order they arrive in, so the counters add up
to what exists (the consumer drops duplicates; social publishes only real changes). A subject
that is gone changes nothing; the comments and likes that go with a deleted subject are not
announced one by one, and nothing is left to count.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import social_pb2

LIKE_EVENTS = ["codegram.social.like.created", "codegram.social.like.deleted"]
COMMENT_EVENTS = ["codegram.social.comment.created", "codegram.social.comment.deleted"]
_MESSAGES = {
    "codegram.social.like.created": (social_pb2.LikeCreated, "likes_count", 1),
    "codegram.social.like.deleted": (social_pb2.LikeDeleted, "likes_count", -1),
    "codegram.social.comment.created": (social_pb2.CommentCreated, "comments_count", 1),
    "codegram.social.comment.deleted": (social_pb2.CommentDeleted, "comments_count", -1),
}


def count_change(subject: str, data: bytes) -> tuple[str, UUID, str, int] | None:
    """(subject type, subject id, the counter, its change) for one event; None for another."""
    known = _MESSAGES.get(subject)
    if known is None:
        return None
    message, column, delta = known
    about = message.FromString(data).subject
    try:
        return about.type, UUID(about.id), column, delta
    except ValueError:
        return None


def interaction_counts(entity: str, table: sa.Table) -> Callable[[ServiceRuntime], IdempotentConsumer]:
    """The consumer keeping `table`'s counters for the subjects of type `entity` ("snippet")."""

    def build(runtime: ServiceRuntime) -> IdempotentConsumer:
        async def handle(session: AsyncSession, msg: Msg) -> None:
            change = count_change(msg.subject, msg.data)
            if change is None or change[0] != entity:
                return
            _, subject_id, column, delta = change
            counter = table.c[column]
            await session.execute(
                sa.update(table).where(table.c.id == subject_id).values({column: counter + delta})
            )

        return runtime.consumer(
            "social-counts",
            LIKE_EVENTS + COMMENT_EVENTS,
            handle,
        )

    return build
