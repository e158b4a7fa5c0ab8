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


def encode_position(at: datetime, key: UUID | str, *, flag: str | None = None) -> str:
    """A position; `flag` names something the next read may take for granted (see `has_flag`)."""
    position: dict[str, Any] = {"t": at.isoformat(), "i": str(key)}
    if flag is not None:
        position[flag] = 1
    return encode_cursor(position)


def has_flag(cursor: str | None, flag: str) -> bool:
    """Whether a cursor (already found valid by `decode_position`) carries `flag`."""
    position = decode_cursor(cursor, ("t", "i"))
    return position is not None and position.get(flag) == 1


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
