"""The auth service's public API models (API.md "Auth")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from codegram_kit.schemas import StrictModel


class AuthorizeRead(BaseModel):
    authorize_url: str
    state: str


class CallbackBody(StrictModel):
    code: str = Field(min_length=1, max_length=512)
    state: str = Field(min_length=1, max_length=512)


class RefreshBody(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class SignedInUser(BaseModel):
    id: str
    username: str
    full_name: str
    avatar_url: str
    bio: str
    location: str
    website: str
    created_at: datetime
    stats: dict[str, int]
    github: dict[str, Any] | None


class TokenRead(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: SignedInUser | None = None
