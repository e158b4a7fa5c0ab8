"""The users service's public API models (API.md "User")."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from codegram_clients.users import GitHubSummary, UserRead, UserStats
from codegram_kit.web.requests import StrictModel

__all__ = ["GitHubSummary", "UserMe", "UserRead", "UserStats", "UserUpdate"]

# The rules below are checked with these expressions and published as the fields' `pattern`, so
# what the OpenAPI promises is exactly what is accepted. Both are linear on any text: the domain is
# read up to its first dot after one character (no other character class holds a dot), never re-split.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s][^@\s.]*\.[^@\s]+$"
_EMAIL = re.compile(EMAIL_PATTERN)
# An http or https URL with a host (lower-case scheme), no whitespace; "" clears the field.
WEBSITE_PATTERN = r"^(https?://[^\s/?#]+([/?#][^\s]*)?)?$"
_WEBSITE = re.compile(WEBSITE_PATTERN)


def _website(value: str | None) -> str | None:
    if value is not None and not _WEBSITE.match(value):
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
    website: Annotated[
        Annotated[str, Field(max_length=200, json_schema_extra={"pattern": WEBSITE_PATTERN})] | None,
        AfterValidator(_website),
    ] = None
    email: Annotated[
        Annotated[str, Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})] | None,
        AfterValidator(_email),
    ] = None
