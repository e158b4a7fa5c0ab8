"""The social service's public API models (API.md "Social"), beyond the WebSocket frames of
realtime.py: the error envelope its routes document, and the `User` its lists show."""

from __future__ import annotations

from pydantic import BaseModel, Field

from codegram_clients.users import UserRead

__all__ = ["ErrorBody", "ErrorDetail", "ErrorEnvelope", "UserRead"]


class ErrorDetail(BaseModel):
    field: str
    in_: str = Field(alias="in")
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorEnvelope(BaseModel):
    """API.md's error envelope, as codegram_kit.web.errors writes it."""

    error: ErrorBody
    request_id: str | None
