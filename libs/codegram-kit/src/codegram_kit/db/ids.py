"""Ids of stored things: time-ordered UUIDv7 for new rows, and lenient parsing of ids from paths."""

from __future__ import annotations

import os
import time
from uuid import UUID


def new_uuid7(now_ms: int | None = None) -> UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so ties on a sort key fall back to newest first and new
    rows land at the right edge of the primary key index."""
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return UUID(int=value)


def parse_id(raw: object) -> UUID | None:
    """The UUID in `raw`, or None: a path value that is not an id names nothing (a 404, not a 400)."""
    try:
        return UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        return None
