"""The users service's client: author summaries for content, sign-in's upsert of a GitHub user,
and the public `User` of API.md.

`GrpcAuthorDirectory` answers a page's authors with one batched `GetUsers` call. The content
services keep a read model of them fed by `codegram.users.user.*` events instead
(codegram_content.authors), and read through this directory only for the ids it does not hold yet
(a user created before they first subscribed: the stream keeps events for a week, not forever, so
the read model is filled by reading through, not by a replay). A page of known authors costs the
users service nothing; a page with an unknown one needs it up, and answers 503 when it is not,
rather than showing content with blank authors. `AuthorDirectory` is the seam between the two.

`author=<username>` and `/users/{username}/...` lists resolve the username with `GetUserByUsername`
(one call per request, not per row).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import grpc
from grpc import StatusCode, aio
from pydantic import BaseModel

from codegram_kit.web.errors import BadGateway, Unavailable
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Author:
    """The author summary every content response embeds (API.md: `author: {id, username, ...}`)."""

    id: UUID
    username: str
    full_name: str
    avatar_url: str


def unknown_author(author_id: UUID) -> Author:
    """Content whose author the users service no longer knows is shown with an empty profile."""
    return Author(id=author_id, username="", full_name="", avatar_url="")


class AuthorDirectory(Protocol):
    async def summaries(self, ids: Collection[UUID]) -> dict[UUID, Author]:
        """The authors among `ids` that exist; unknown ids are left out."""
        ...

    async def find_id(self, username: str) -> UUID | None:
        """The id of the user with this username (case-insensitive), or None."""
        ...


async def authors_of(directory: AuthorDirectory, ids: Collection[UUID]) -> dict[UUID, Author]:
    """Every author of a page, from one batched call; unknown ones blank (see `unknown_author`)."""
    known = await directory.summaries(set(ids))
    return {i: known.get(i) or unknown_author(i) for i in ids}


class GrpcAuthorDirectory:
    def __init__(self, channel: aio.Channel) -> None:
        self.stub = users_pb2_grpc.UsersServiceStub(channel)

    async def summaries(self, ids: Collection[UUID]) -> dict[UUID, Author]:
        if not ids:
            return {}
        try:
            reply = await self.stub.GetUsers(users_pb2.GetUsersRequest(ids=[str(i) for i in ids]))
        except aio.AioRpcError as exc:
            raise _unavailable(exc) from exc
        return {
            UUID(u.id): Author(
                id=UUID(u.id), username=u.username, full_name=u.full_name, avatar_url=u.avatar_url
            )
            for u in reply.users
        }

    async def find_id(self, username: str) -> UUID | None:
        if not username or any(ord(c) < 32 for c in username):
            # No username has control characters, and a NUL cannot even be queried in Postgres:
            # asking would turn a 404 into the users service's error (a 503 here).
            return None
        try:
            reply = await self.stub.GetUserByUsername(users_pb2.GetUserByUsernameRequest(username=username))
        except aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _unavailable(exc) from exc
        return UUID(reply.user.id)


def _unavailable(exc: aio.AioRpcError) -> Unavailable:
    log.warning("users service call failed", extra={"code": exc.code().name, "details": exc.details()})
    return Unavailable("the users service is unavailable")


# The public `User` of API.md, shared by every service that shows a user (and built from the proto).
class UserStats(BaseModel):
    followers: int
    following: int
    snippets: int
    docs: int


class GitHubSummary(BaseModel):
    login: str
    followers: int
    following: int
    public_repos: int
    synced_at: datetime | None


class UserRead(BaseModel):
    id: str
    username: str
    full_name: str
    avatar_url: str
    bio: str
    location: str
    website: str
    created_at: datetime
    stats: UserStats
    github: GitHubSummary | None
    # Only for a signed-in viewer, and only when the social service could say.
    followed_by_me: bool | None = None


def user_from_proto(user: users_pb2.User) -> UserRead:
    github = None
    if user.HasField("github"):
        gh = user.github
        github = GitHubSummary(
            login=gh.login,
            followers=gh.followers,
            following=gh.following,
            public_repos=gh.public_repos,
            synced_at=gh.synced_at.ToDatetime(tzinfo=UTC) if gh.HasField("synced_at") else None,
        )
    return UserRead(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        avatar_url=user.avatar_url,
        bio=user.bio,
        location=user.location,
        website=user.website,
        created_at=user.created_at.ToDatetime(tzinfo=UTC),
        stats=UserStats(
            followers=user.stats.followers,
            following=user.stats.following,
            snippets=user.stats.snippets,
            docs=user.stats.docs,
        ),
        github=github,
    )


class AuthorSummary(BaseModel):
    """The author as content embeds it (API.md `author: {id, username, full_name, avatar_url}`):
    one definition for snippets, docs and comments, so the merged OpenAPI has one schema."""

    id: str
    username: str
    full_name: str
    avatar_url: str

    @classmethod
    def of(cls, author: Author) -> AuthorSummary:
        return cls(
            id=str(author.id),
            username=author.username,
            full_name=author.full_name,
            avatar_url=author.avatar_url,
        )


@dataclass(frozen=True, slots=True)
class GitHubAccount:
    """What sign-in learned from GitHub about the account signing in."""

    github_id: int
    login: str
    name: str = ""
    email: str = ""
    avatar_url: str = ""
    bio: str = ""
    location: str = ""
    blog: str = ""
    followers: int = 0
    following: int = 0
    public_repos: int = 0


class UsersClient:
    """Sign-in's side of the users service: create or refresh the user of a GitHub account."""

    def __init__(self, channel: aio.Channel) -> None:
        self.stub = users_pb2_grpc.UsersServiceStub(channel)

    async def upsert_github_user(self, account: GitHubAccount) -> tuple[UserRead, bool]:
        """(the user, whether this sign-in created them)."""
        request = users_pb2.UpsertGitHubUserRequest(
            github_id=account.github_id,
            login=account.login,
            name=account.name,
            email=account.email,
            avatar_url=account.avatar_url,
            bio=account.bio,
            location=account.location,
            blog=account.blog,
            followers=account.followers,
            following=account.following,
            public_repos=account.public_repos,
        )
        try:
            reply = await self.stub.UpsertGitHubUser(request)
        except aio.AioRpcError as exc:
            if exc.code() in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("the users service is unavailable") from exc
            raise BadGateway("the users service failed") from exc
        return user_from_proto(reply.user), reply.created


class UserDirectory:
    """Public `User`s for lists of people (followers, following): a username's id, and a whole page
    of users in one batched `GetUsers` call."""

    def __init__(self, channel: aio.Channel) -> None:
        self._authors = GrpcAuthorDirectory(channel)
        self.stub = self._authors.stub

    async def find_id(self, username: str) -> UUID | None:
        """The id of the user with this username (case-insensitive), or None."""
        return await self._authors.find_id(username)

    async def users(self, ids: Collection[UUID]) -> dict[UUID, UserRead]:
        """The users among `ids` that exist; unknown ids are left out."""
        if not ids:
            return {}
        try:
            reply = await self.stub.GetUsers(users_pb2.GetUsersRequest(ids=[str(i) for i in ids]))
        except aio.AioRpcError as exc:
            raise _unavailable(exc) from exc
        return {UUID(u.id): user_from_proto(u) for u in reply.users}
