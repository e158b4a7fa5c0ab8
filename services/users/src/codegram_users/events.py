"""What the users service publishes (codegram.users.user.{created,updated}, through the outbox) and
consumes (snippet and doc events, which keep each user's counts of public snippets and docs; follow
events, which keep the followers and following counts; GitHub profile syncs, which keep the `github`
block)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import docs_pb2, github_pb2, snippets_pb2, social_pb2
from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2
from codegram_users.domain import User
from codegram_users.service import UserService

USER_CREATED = "codegram.users.user.created"
USER_UPDATED = "codegram.users.user.updated"
SNIPPET_EVENTS = [f"codegram.snippets.snippet.{verb}" for verb in ("created", "updated", "deleted")]
DOC_EVENTS = [f"codegram.docs.doc.{verb}" for verb in ("created", "updated", "deleted")]
FOLLOW_EVENTS = ["codegram.social.follow.created", "codegram.social.follow.deleted"]
GITHUB_PROFILE_SYNCED = "codegram.github.profile.synced"


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


class UserEvents:
    """The outbox rows of the user's changes, written in the transaction of the change."""

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


class _Facts(Protocol):
    author_id: str
    visibility: str


def _public_delta(subject: str, data: bytes, messages: tuple[Any, Any, Any], item: str) -> tuple[str, int]:
    """(author id, change in that author's public items) for one snippet or doc event.

    Each event says the visibility before and after, so the deltas add up in any order: a
    redelivered, reordered or replayed event cannot drift the count (duplicates are dropped by
    the consumer).
    """
    created_type, updated_type, deleted_type = messages
    verb = subject.rsplit(".", 1)[-1]
    if verb == "created":
        created: _Facts = getattr(created_type.FromString(data), item)
        return created.author_id, int(created.visibility == "public")
    if verb == "updated":
        message = updated_type.FromString(data)
        updated: _Facts = getattr(message, item)
        now_public = updated.visibility == "public"
        was_public = message.previous_visibility == "public"
        return updated.author_id, int(now_public) - int(was_public)
    if verb == "deleted":
        deleted: _Facts = getattr(deleted_type.FromString(data), item)
        return deleted.author_id, -int(deleted.visibility == "public")
    return "", 0


def public_snippet_delta(subject: str, data: bytes) -> tuple[str, int]:
    messages = (snippets_pb2.SnippetCreated, snippets_pb2.SnippetUpdated, snippets_pb2.SnippetDeleted)
    return _public_delta(subject, data, messages, "snippet")


def public_doc_delta(subject: str, data: bytes) -> tuple[str, int]:
    messages = (docs_pb2.DocCreated, docs_pb2.DocUpdated, docs_pb2.DocDeleted)
    return _public_delta(subject, data, messages, "doc")


# A UserService method adding a delta to one of a user's counters.
Count = Callable[[UserService, str, int], Awaitable[None]]


def _count_consumer(
    runtime: ServiceRuntime,
    name: str,
    subjects: list[str],
    delta_of: Callable[[str, bytes], tuple[str, int]],
    count: Count,
) -> IdempotentConsumer:
    async def handle(session: AsyncSession, msg: Msg) -> None:
        author_id, delta = delta_of(msg.subject, msg.data)
        if delta:
            await count(UserService(session, UserEvents(runtime.outbox, session)), author_id, delta)

    return runtime.consumer(
        name,
        subjects,
        handle,
    )


def snippet_counts(runtime: ServiceRuntime) -> IdempotentConsumer:
    """`stats.snippets` counts public snippets only: private and unlisted ones are nobody's business."""
    return _count_consumer(
        runtime, "snippet-counts", SNIPPET_EVENTS, public_snippet_delta, UserService.count_public_snippets
    )


def doc_counts(runtime: ServiceRuntime) -> IdempotentConsumer:
    """`stats.docs` counts public docs only, as `stats.snippets` does snippets."""
    return _count_consumer(runtime, "doc-counts", DOC_EVENTS, public_doc_delta, UserService.count_public_docs)


def follow_delta(subject: str, data: bytes) -> tuple[str, str, int]:
    """(follower id, followee id, change in the follow counts) for one follow event.

    A follow is +1 and an unfollow -1 whatever order they arrive in, so the counts add up to the
    follows that exist (duplicates are dropped by the consumer; social publishes only real changes).
    """
    verb = subject.rsplit(".", 1)[-1]
    if verb == "created":
        follow = social_pb2.FollowCreated.FromString(data).follow
        return follow.follower_id, follow.followee_id, 1
    if verb == "deleted":
        follow = social_pb2.FollowDeleted.FromString(data).follow
        return follow.follower_id, follow.followee_id, -1
    return "", "", 0


def follow_counts(runtime: ServiceRuntime) -> IdempotentConsumer:
    """`stats.followers` and `stats.following`, kept from the social service's follow events."""

    async def handle(session: AsyncSession, msg: Msg) -> None:
        follower_id, followee_id, delta = follow_delta(msg.subject, msg.data)
        if delta:
            users = UserService(session, UserEvents(runtime.outbox, session))
            await users.count_follow(follower_id, followee_id, delta)

    return runtime.consumer(
        "follow-counts",
        FOLLOW_EVENTS,
        handle,
    )


def github_profiles(runtime: ServiceRuntime) -> IdempotentConsumer:
    """The `github` block of `User` (followers, following, public repos, `synced_at`), kept from the
    github service's syncs; the newest sync wins whatever order the events arrive in."""

    async def handle(session: AsyncSession, msg: Msg) -> None:
        event = github_pb2.GitHubProfileSynced.FromString(msg.data)
        synced_at = event.synced_at.ToDatetime(tzinfo=UTC)
        counts = (event.followers, event.following, event.public_repos)
        users = UserService(session, UserEvents(runtime.outbox, session))
        await users.apply_github_profile(event.user_id, event.login, counts, synced_at)

    return runtime.consumer(
        "github-profiles",
        [GITHUB_PROFILE_SYNCED],
        handle,
    )
