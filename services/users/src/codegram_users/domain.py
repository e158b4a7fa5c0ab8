"""The user as the service layer sees it: no FastAPI, SQL or protobuf types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class GitHubLink:
    id: int
    login: str
    followers: int
    following: int
    public_repos: int
    synced_at: datetime | None


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    username: str
    full_name: str
    avatar_url: str
    bio: str
    location: str
    website: str
    email: str | None
    created_at: datetime
    updated_at: datetime
    followers: int
    following: int
    snippets: int
    docs: int
    github: GitHubLink | None


@dataclass(frozen=True, slots=True)
class GitHubAccount:
    """What sign-in learned about a GitHub account."""

    github_id: int
    login: str
    name: str
    email: str | None
    avatar_url: str
    bio: str
    location: str
    blog: str
    followers: int
    following: int
    public_repos: int


PROFILE_FIELDS = ("full_name", "bio", "location", "website", "email")
