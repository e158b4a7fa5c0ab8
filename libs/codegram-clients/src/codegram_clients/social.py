"""The social service's client: `followed_by_me` for a page of users, in one batched call.

`followed_by_me` is an optional field (API.md "User"): when the social service cannot answer, the
page is shown without it rather than refused.
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
