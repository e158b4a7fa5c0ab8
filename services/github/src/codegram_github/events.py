"""What the github service publishes through the outbox (codegram.github.profile.synced) and consumes
(codegram.auth.user.signed_in: who is active, and the first sync of a new user)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_github.service import GitHubProfile, SyncRequests, outbox_enqueuer
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import auth_pb2, github_pb2

PROFILE_SYNCED = "codegram.github.profile.synced"
USER_SIGNED_IN = "codegram.auth.user.signed_in"


class GitHubEvents:
    """The outbox rows of a sync's results, in the transaction that stores them."""

    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session

    async def profile_synced(self, profile: GitHubProfile) -> None:
        synced_at = Timestamp()
        synced_at.FromDatetime(profile.synced_at.astimezone(UTC))
        message = github_pb2.GitHubProfileSynced(
            user_id=str(profile.user_id),
            github_id=profile.github_id,
            login=profile.login,
            followers=profile.followers,
            following=profile.following,
            public_repos=profile.public_repos,
            synced_at=synced_at,
        )
        await self.outbox.add(self.session, PROFILE_SYNCED, message)


def signed_in(runtime: ServiceRuntime) -> IdempotentConsumer:
    """Every sign-in marks the user active (the daily repositories schedule); the first one known
    here queues a first sync."""

    async def handle(session: AsyncSession, msg: Msg) -> None:
        event = auth_pb2.UserSignedIn.FromString(msg.data)
        user_id = parse_id(event.user_id)
        if user_id is None:
            return
        at = event.occurred_at.ToDatetime(tzinfo=UTC) if event.HasField("occurred_at") else datetime.now(UTC)
        requests = SyncRequests(runtime.db, outbox_enqueuer(runtime.outbox))
        await requests.record_sign_in(session, user_id, at)

    return runtime.consumer(
        "signed-in",
        [USER_SIGNED_IN],
        cast(Any, handle),
    )
