"""The users service's public API models (API.md "User")."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from codegram_clients.users import GitHubSummary, UserRead, UserStats
from codegram_kit.web.requests import StrictModel

__all__ = ["GitHubSummary", "UserMe", "UserRead", "UserStats", "UserUpdate"]

# Linear on any text: the domain is read up to its first dot after one character, never re-split.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s][^@\s.]*+\.[^@\s]++$")


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


class UserMe(UserRead):
    email: str | None


class UserUpdate(StrictModel):
    """`PATCH /users/me`: only the fields sent change; null or "" clears a text field."""

    full_name: str | None = Field(default=None, max_length=100)
    bio: str | None = Field(default=None, max_length=500)
    location: str | None = Field(default=None, max_length=100)
    website: Annotated[str | None, AfterValidator(_website)] = Field(default=None, max_length=200)
    email: Annotated[str | None, AfterValidator(_email)] = Field(default=None, max_length=254)
