"""What the github service asks its peers over gRPC: a username's user id and GitHub login (users)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from grpc import StatusCode, aio

from codegram_kit.web.errors import Unavailable
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Person:
    id: UUID
    github_login: str | None


class UserLookup:
    def __init__(self, channel: aio.Channel) -> None:
        self.stub = users_pb2_grpc.UsersServiceStub(channel)

    async def find(self, username: str) -> Person | None:
        """The user with this username (case-insensitive), or None."""
        if not username or any(ord(c) < 32 for c in username):
            return None  # no username has control characters; asking would only fail
        try:
            reply = await self.stub.GetUserByUsername(users_pb2.GetUserByUsernameRequest(username=username))
        except aio.AioRpcError as exc:
            if exc.code() in (StatusCode.NOT_FOUND, StatusCode.INVALID_ARGUMENT):
                return None
            log.warning("users service call failed", extra={"code": exc.code().name})
            raise Unavailable("the users service is unavailable") from exc
        user = reply.user
        login = user.github.login if user.HasField("github") and user.github.login else None
        return Person(UUID(user.id), login)
