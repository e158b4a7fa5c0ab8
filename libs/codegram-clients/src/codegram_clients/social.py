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


class LikeLookup:
    """`liked_by_me` for a page of snippets or docs, in one batched call."""

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
