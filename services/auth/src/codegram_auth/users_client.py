"""The users service as sign-in calls it (gRPC): create or refresh the user of a GitHub account."""

from __future__ import annotations

from typing import Any

from grpc import StatusCode, aio

from codegram_auth.github_client import GitHubIdentity
from codegram_clients.users import UserRead, user_from_proto
from codegram_kit.web.errors import BadGateway, Unavailable
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc


class UsersClient:
    def __init__(self, channel: aio.Channel) -> None:
        self.stub = users_pb2_grpc.UsersServiceStub(channel)

    async def upsert_github_user(self, identity: GitHubIdentity) -> tuple[UserRead, bool]:
        """(the user, whether this sign-in created them)."""
        gh: dict[str, Any] = identity.user
        request = users_pb2.UpsertGitHubUserRequest(
            github_id=int(gh["id"]),
            login=str(gh["login"]),
            name=str(gh.get("name") or ""),
            email=identity.email or "",
            avatar_url=str(gh.get("avatar_url") or ""),
            bio=str(gh.get("bio") or ""),
            location=str(gh.get("location") or ""),
            blog=str(gh.get("blog") or ""),
            followers=int(gh.get("followers") or 0),
            following=int(gh.get("following") or 0),
            public_repos=int(gh.get("public_repos") or 0),
        )
        try:
            reply = await self.stub.UpsertGitHubUser(request)
        except aio.AioRpcError as exc:
            if exc.code() in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("the users service is unavailable") from exc
            raise BadGateway("the users service failed") from exc
        return user_from_proto(reply.user), reply.created
