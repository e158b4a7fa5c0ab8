"""The users service's public API models (API.md "User")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from codegram_kit.schemas import StrictModel

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _website(value: str | None) -> str | None:
    if value in (None, ""):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError("must be an http or https URL")
    return value


def _email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value.lower() if value else value


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


class UserMe(UserRead):
    email: str | None


class UserUpdate(StrictModel):
    """`PATCH /users/me`: only the fields sent change; null or "" clears a text field."""

    full_name: str | None = Field(default=None, max_length=100)
    bio: str | None = Field(default=None, max_length=500)
    location: str | None = Field(default=None, max_length=100)
    website: Annotated[str | None, AfterValidator(_website)] = Field(default=None, max_length=200)
    email: Annotated[str | None, AfterValidator(_email)] = Field(default=None, max_length=254)
