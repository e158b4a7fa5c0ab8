"""The auth service's public API models (API.md "Auth")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from codegram_clients.users import UserRead
from codegram_kit.web.requests import StrictModel


class AuthorizeRead(BaseModel):
    authorize_url: str
    state: str


class CallbackBody(StrictModel):
    code: str = Field(min_length=1, max_length=512)
    state: str = Field(min_length=1, max_length=512)


class RefreshBody(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenRead(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: UserRead | None = None
