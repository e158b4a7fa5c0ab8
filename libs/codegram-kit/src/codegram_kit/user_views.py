"""The public `User` of API.md, shared by every service that shows a user (and built from the proto)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from codegram_proto.codegram.users.v1 import users_pb2


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
