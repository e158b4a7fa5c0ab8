"""The social service's client: `followed_by_me` for a page of users and `liked_by_me` for a page
of content, each in one batched call.

Both personalise a page rather than make it: when the social service cannot answer, the page is
shown without them (`followed_by_me` null, `liked_by_me` false) rather than refused.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from grpc import aio

from codegram_proto.codegram.social.v1 import social_pb2, social_pb2_grpc

log = logging.getLogger(__name__)

# How long a content write waits to tell social of a delete or visibility change after its commit.
CHANGE_DEADLINE_SECONDS = 2.0


class FollowLookup:
    def __init__(self, channel: aio.Channel) -> None:
        self.stub = social_pb2_grpc.SocialServiceStub(channel)

    async def followed_among(self, user_id: str, ids: Collection[str]) -> set[str] | None:
        """Which of `ids` the user follows; None when the social service could not say."""
        if not ids:
            return set()
        request = social_pb2.FollowingRequest(user_id=user_id, user_ids=list(ids))
        try:
            reply = await self.stub.Following(request)
        except aio.AioRpcError as exc:
            log.warning("social service call failed", extra={"code": exc.code().name})
            return None
        return set(reply.user_ids)


class SocialClient:
    """The social service as the content services use it: `liked_by_me` for a page, in one batched
    call, and the word right after a commit that an item was deleted or changed its visibility."""

    def __init__(self, channel: aio.Channel) -> None:
        self.stub = social_pb2_grpc.SocialServiceStub(channel)

    async def liked_among(self, user_id: str, subject_type: str, ids: Collection[str]) -> set[str] | None:
        """Which of `ids` (all of `subject_type`, "snippet" or "doc") the user likes; None when the
        social service could not say."""
        if not ids:
            return set()
        request = social_pb2.LikedByRequest(user_id=user_id, subject_type=subject_type, subject_ids=list(ids))
        try:
            reply = await self.stub.LikedBy(request)
        except aio.AioRpcError as exc:
            log.warning("social service call failed", extra={"code": exc.code().name})
            return None
        return set(reply.subject_ids)

    async def content_changed(self, change: social_pb2.ContentChangedRequest) -> None:
        """Best effort: when social cannot be told now, the change's event tells it a moment later."""
        try:
            await self.stub.ContentChanged(change, timeout=CHANGE_DEADLINE_SECONDS)
        except aio.AioRpcError as exc:
            log.warning("social service not told of a content change", extra={"code": exc.code().name})
