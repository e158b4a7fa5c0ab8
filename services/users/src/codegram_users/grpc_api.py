"""The users service's internal gRPC API: proto <-> domain, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ValidationFailed
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc
from codegram_users.domain import GitHubAccount, User
from codegram_users.events import UserEvents
from codegram_users.service import UserService

MAX_BATCH = 500


def _ts(value) -> Timestamp:  # type: ignore[no-untyped-def]
    ts = Timestamp()
    if value is not None:
        ts.FromDatetime(value)
    return ts


def to_proto(user: User) -> users_pb2.User:
    message = users_pb2.User(
        id=str(user.id),
        username=user.username,
        full_name=user.full_name,
        avatar_url=user.avatar_url,
        bio=user.bio,
        location=user.location,
        website=user.website,
        created_at=_ts(user.created_at),
        stats=users_pb2.UserStats(
            followers=user.followers, following=user.following, snippets=user.snippets, docs=user.docs
        ),
    )
    if user.github:
        gh = user.github
        message.github.CopyFrom(
            users_pb2.GitHubProfile(
                id=gh.id,
                login=gh.login,
                followers=gh.followers,
                following=gh.following,
                public_repos=gh.public_repos,
                synced_at=_ts(gh.synced_at),
            )
        )
    return message


class UsersServicer(users_pb2_grpc.UsersServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    def _users(self, session: AsyncSession) -> UserService:
        return UserService(session, UserEvents(self.runtime.outbox, session))

    async def GetUser(self, request, context):  # type: ignore[no-untyped-def]
        async with self.runtime.db.unit_of_work() as session:
            user = await self._users(session).get(request.id)
        return users_pb2.GetUserResponse(user=to_proto(user))

    async def GetUsers(self, request, context):  # type: ignore[no-untyped-def]
        if len(request.ids) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} ids per call")
        async with self.runtime.db.unit_of_work() as session:
            found = await self._users(session).get_many(list(request.ids))
        return users_pb2.GetUsersResponse(users=[to_proto(u) for u in found])

    async def GetUserByUsername(self, request, context):  # type: ignore[no-untyped-def]
        async with self.runtime.db.unit_of_work() as session:
            user = await self._users(session).get_by_username(request.username)
        return users_pb2.GetUserByUsernameResponse(user=to_proto(user))

    async def UpsertGitHubUser(self, request, context):  # type: ignore[no-untyped-def]
        if request.github_id <= 0 or not request.login:
            raise ValidationFailed("github_id and login are required")
        account = GitHubAccount(
            github_id=request.github_id,
            login=request.login,
            name=request.name,
            email=request.email or None,
            avatar_url=request.avatar_url,
            bio=request.bio,
            location=request.location,
            blog=request.blog,
            followers=request.followers,
            following=request.following,
            public_repos=request.public_repos,
        )
        async with self.runtime.db.unit_of_work() as session:
            user, created = await self._users(session).upsert_github_user(account)
        return users_pb2.UpsertGitHubUserResponse(user=to_proto(user), created=created)


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    users_pb2_grpc.add_UsersServiceServicer_to_server(UsersServicer(runtime), server)
    return [users_pb2.DESCRIPTOR.services_by_name["UsersService"].full_name]
