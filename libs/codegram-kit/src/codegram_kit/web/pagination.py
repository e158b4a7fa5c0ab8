"""Cursor pagination of the public API (API.md "Lists"): pages, limits, opaque cursors, next links."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from codegram_kit.web.errors import ValidationFailed

T = TypeVar("T")


class PageInfo(BaseModel):
    limit: int
    next_cursor: str | None


class Page(BaseModel, Generic[T]):
    data: list[T]
    pagination: PageInfo


DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageParams(BaseModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, required_keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The keyset position a cursor names; a cursor that was not ours is a 400, not a 500."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or any(k not in position for k in required_keys):
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "in": "query", "message": "invalid cursor"}]
        )
    return position


def next_link(path: str, query: dict[str, Any], next_cursor: str | None) -> str | None:
    """The `Link: <...>; rel="next"` header value for a page that has a successor."""
    if next_cursor is None:
        return None
    params = {k: v for k, v in query.items() if k != "cursor" and v is not None}
    params["cursor"] = next_cursor
    return f'<{path}?{urlencode(params, doseq=True)}>; rel="next"'
