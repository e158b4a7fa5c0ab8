"""The keyset cursors of social's lists: a position is (time, id), newest or oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from codegram_kit.db.ids import parse_id
from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import decode_cursor, encode_cursor


def bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "invalid cursor", [{"field": "cursor", "in": "query", "message": "invalid cursor"}]
    )


def encode_position(at: datetime, key: UUID | str) -> str:
    return encode_cursor({"t": at.isoformat(), "i": str(key)})


def decode_position(cursor: str | None) -> tuple[datetime, str] | None:
    """(time, key) of a cursor from `encode_position`; anything else is a 400."""
    position = decode_cursor(cursor, ("t", "i"))
    if position is None:
        return None
    raw_time: Any = position["t"]
    key: Any = position["i"]
    if not isinstance(raw_time, str) or not isinstance(key, str) or len(key) > 200:
        raise bad_cursor()
    try:
        at = datetime.fromisoformat(raw_time)
    except ValueError:
        raise bad_cursor() from None
    if at.tzinfo is None:
        raise bad_cursor()
    return at, key


def decode_id_position(cursor: str | None) -> tuple[datetime, UUID] | None:
    """(time, id) of a cursor whose key is an id."""
    position = decode_position(cursor)
    if position is None:
        return None
    key = parse_id(position[1])
    if key is None:
        raise bad_cursor()
    return position[0], key
