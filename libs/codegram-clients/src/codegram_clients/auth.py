"""The auth service's client for services that act on a user's behalf at GitHub: the user's GitHub
token over gRPC (`GetGitHubToken`). The token is a secret: never logged, never put in an event."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grpc import StatusCode, aio

from codegram_kit.web.errors import Unavailable
from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GitHubToken:
    access_token: str
    scope: str

    def __repr__(self) -> str:  # never the token itself, in a log line or a traceback
        return f"GitHubToken(scope={self.scope!r})"


class GitHubTokens:
    def __init__(self, channel: aio.Channel) -> None:
        self.stub = auth_pb2_grpc.AuthServiceStub(channel)

    async def token_of(self, user_id: str) -> GitHubToken | None:
        """The token stored at the user's last sign-in; None when they never signed in."""
        try:
            reply = await self.stub.GetGitHubToken(auth_pb2.GetGitHubTokenRequest(user_id=user_id))
        except aio.AioRpcError as exc:
            if exc.code() in (StatusCode.NOT_FOUND, StatusCode.INVALID_ARGUMENT):
                return None
            log.warning("auth service call failed", extra={"code": exc.code().name})
            raise Unavailable("the auth service is unavailable") from exc
        return GitHubToken(access_token=reply.access_token, scope=reply.scope)
