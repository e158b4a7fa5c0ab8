"""What the users service publishes (codegram.users.user.{created,updated}, through the outbox) and
consumes (snippet events, which keep each user's count of public snippets)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.events import IdempotentConsumer
from codegram_kit.outbox import Outbox
from codegram_kit.service import ServiceRuntime
from codegram_proto.codegram.events.v1 import snippets_pb2
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2
from codegram_users.domain import User

USER_CREATED = "codegram.users.user.created"
USER_UPDATED = "codegram.users.user.updated"
SNIPPET_EVENTS = [f"codegram.snippets.snippet.{verb}" for verb in ("created", "updated", "deleted")]


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


def public_snippet_delta(subject: str, data: bytes) -> tuple[str, int]:
    """(author id, change in that author's public snippets) for one snippet event.

    Each event says the visibility before and after, so the deltas add up in any order: a
    redelivered or reordered event cannot drift the count (duplicates are dropped by the consumer).
    """
    verb = subject.rsplit(".", 1)[-1]
    if verb == "created":
        created = snippets_pb2.SnippetCreated.FromString(data)
        return created.snippet.author_id, int(created.snippet.visibility == "public")
    if verb == "updated":
        updated = snippets_pb2.SnippetUpdated.FromString(data)
        now_public = updated.snippet.visibility == "public"
        was_public = updated.previous_visibility == "public"
        return updated.snippet.author_id, int(now_public) - int(was_public)
    if verb == "deleted":
        deleted = snippets_pb2.SnippetDeleted.FromString(data)
        return deleted.snippet.author_id, -int(deleted.snippet.visibility == "public")
    return "", 0


def snippet_counts(runtime: ServiceRuntime) -> IdempotentConsumer:
    """`stats.snippets` counts public snippets only: private and unlisted ones are nobody's business."""
    from codegram_users.service import UserService  # the service layer imports this module

    async def handle(session: AsyncSession, msg: Msg) -> None:
        author_id, delta = public_snippet_delta(msg.subject, msg.data)
        if delta:
            await UserService(session, runtime.outbox).count_public_snippets(author_id, delta)

    if runtime.js is None:
        raise RuntimeError("consumers are built once messaging has started")
    return IdempotentConsumer(
        service="users",
        name="snippet-counts",
        subjects=SNIPPET_EVENTS,
        db=runtime.db,
        processed_table=runtime.processed_table,
        js=runtime.js,
        handler=handle,
    )
