"""`likes_count` and `comments_count` of snippets and docs, kept from the social service's like and
comment events (`codegram.social.like.*`, `codegram.social.comment.*`).

A like or a comment is +1 and its removal -1 whatever order they arrive in, so the counters add up
to what exists (the consumer drops duplicates; social publishes only real changes). A subject
that is gone changes nothing; the comments and likes that go with a deleted subject are not
announced one by one, and nothing is left to count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import social_pb2

LIKE_EVENTS = ["codegram.social.like.created", "codegram.social.like.deleted"]
COMMENT_EVENTS = ["codegram.social.comment.created", "codegram.social.comment.deleted"]
_MESSAGES: dict[str, tuple[Any, str, int]] = {
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


def net_changes(
    entity: str, changes: Iterable[tuple[str, UUID, str, int] | None]
) -> dict[UUID, dict[str, int]]:
    """The net change of each counter of each subject of type `entity`, zeros left out."""
    net: dict[UUID, dict[str, int]] = {}
    for change in changes:
        if change is None or change[0] != entity:
            continue
        _, subject_id, column, delta = change
        counters = net.setdefault(subject_id, {})
        counters[column] = counters.get(column, 0) + delta
    return {
        sid: {c: d for c, d in counters.items() if d}
        for sid, counters in net.items()
        if any(counters.values())
    }


def interaction_counts(entity: str, table: sa.Table) -> Callable[[ServiceRuntime], IdempotentConsumer]:
    """The consumer keeping `table`'s counters for the subjects of type `entity` ("snippet").
    A fetched backlog is applied as one statement: the net change of each subject's counters."""
    ids = sa.bindparam("ids", type_=ARRAY(PgUUID(as_uuid=True)))
    likes = sa.bindparam("likes", type_=ARRAY(sa.Integer))
    comments = sa.bindparam("comments", type_=ARRAY(sa.Integer))
    deltas = (
        sa.func.unnest(ids, likes, comments).table_valued("id", "likes", "comments").render_derived(name="d")
    )
    apply_many = (
        sa.update(table)
        .where(table.c.id == deltas.c.id)
        .values(
            likes_count=table.c.likes_count + deltas.c.likes,
            comments_count=table.c.comments_count + deltas.c.comments,
        )
    )

    def build(runtime: ServiceRuntime) -> IdempotentConsumer:
        async def handle(session: AsyncSession, msg: Msg) -> None:
            await handle_many(session, [msg])

        async def handle_many(session: AsyncSession, msgs: list[Msg]) -> None:
            net = net_changes(entity, (count_change(m.subject, m.data) for m in msgs))
            if not net:
                return
            subjects = list(net)
            await session.execute(
                apply_many,
                {
                    "ids": subjects,
                    "likes": [net[s].get("likes_count", 0) for s in subjects],
                    "comments": [net[s].get("comments_count", 0) for s in subjects],
                },
            )

        def about_entity(msg: Msg) -> bool:
            change = count_change(msg.subject, msg.data)
            return change is not None and change[0] == entity

        return runtime.consumer(
            "social-counts",
            LIKE_EVENTS + COMMENT_EVENTS,
            handle,
            batch_handler=handle_many,
            # The likes and comments of the other kind (docs for snippets) share the subjects:
            # acknowledged without a transaction.
            relevant=about_entity,
            # The counters follow within a second (API.md): a like waits up to a fifth of one
            # for those behind it, and a burst is one statement instead of one per like.
            linger_seconds=0.2,
        )

    return build
