"""Keyset cursors of the content lists and searches: what they hold, and refusing ones that were not ours.

A list cursor is the position of the last item of a page in its sort order: `(created_at, id)` for
`recent`, `(likes_count, id)` for `popular`; a search cursor is `(score, created_at, id)`. Each
names its order, so a cursor of another sort is a 400 rather than a page that skips or repeats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from codegram_kit.db.ids import parse_id
from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import decode_cursor, encode_cursor

Order = Literal["recent", "popular"]
# Counts are Postgres bigints: one outside their range is no position of ours, and the driver
# cannot even send it (a 500 rather than a 400).
_MIN_COUNT, _MAX_COUNT = -(2**63), 2**63 - 1
# Relevance scores are small positive floats; this bound only keeps out infinities in disguise.
_MAX_SCORE = 1e300


class Keyed(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def likes_count(self) -> int: ...


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "invalid cursor", [{"field": "cursor", "in": "query", "message": "invalid cursor"}]
    )


def _cursor_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _bad_cursor()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_cursor() from None
    if parsed.tzinfo is None:
        raise _bad_cursor()
    return parsed


def _cursor_id(value: Any) -> UUID:
    parsed = parse_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise _bad_cursor()
    return parsed


def list_cursor(item: Keyed, order: Order) -> str:
    if order == "popular":
        return encode_cursor({"o": "popular", "l": item.likes_count, "i": str(item.id)})
    return encode_cursor({"o": "recent", "t": item.created_at.isoformat(), "i": str(item.id)})


def decode_list_cursor(cursor: str | None, order: Order) -> tuple[Any, UUID] | None:
    position = decode_cursor(cursor, ("o", "i"))
    if position is None:
        return None
    if position["o"] != order:
        raise _bad_cursor()  # a cursor of another sort order would skip or repeat items
    if order == "popular":
        likes = position.get("l")
        if isinstance(likes, bool) or not isinstance(likes, int):  # True is an int to Python
            raise _bad_cursor()
        if not _MIN_COUNT <= likes <= _MAX_COUNT:
            raise _bad_cursor()
        return likes, _cursor_id(position["i"])
    return _cursor_time(position.get("t")), _cursor_id(position["i"])


def search_cursor(score: float, item: Keyed) -> str:
    return encode_cursor({"o": "search", "s": score, "t": item.created_at.isoformat(), "i": str(item.id)})


def decode_search_cursor(cursor: str | None) -> tuple[float, datetime, UUID] | None:
    position = decode_cursor(cursor, ("o", "s", "t", "i"))
    if position is None:
        return None
    score = position["s"]
    if position["o"] != "search" or isinstance(score, bool) or not isinstance(score, int | float):
        raise _bad_cursor()
    # Refuses an int too large for a float (10**400) and JSON's NaN and infinities (1e400) too.
    if not -_MAX_SCORE <= score <= _MAX_SCORE:
        raise _bad_cursor()
    return float(score), _cursor_time(position["t"]), _cursor_id(position["i"])


def next_page(found: list[Any], limit: int, order: Order) -> tuple[list[Any], str | None]:
    """A page from `limit + 1` rows read: the first `limit`, and a cursor when there was one more."""
    page = found[:limit]
    return page, list_cursor(page[-1], order) if len(found) > limit else None
