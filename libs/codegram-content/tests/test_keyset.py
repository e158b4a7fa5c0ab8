"""Keyset cursors of the content services: they round-trip, and cursors that were not ours are 400s."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest

from codegram_content.keyset import (
    decode_list_cursor,
    decode_search_cursor,
    list_cursor,
    next_page,
    search_cursor,
)
from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import encode_cursor

NOW = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: UUID
    created_at: datetime
    likes_count: int


def _item(likes: int = 3) -> Item:
    return Item(id=uuid.uuid4(), created_at=NOW, likes_count=likes)


def test_list_cursors_round_trip_per_sort() -> None:
    s = _item()
    assert decode_list_cursor(list_cursor(s, "recent"), "recent") == (NOW, s.id)
    assert decode_list_cursor(list_cursor(s, "popular"), "popular") == (3, s.id)
    assert decode_list_cursor(None, "recent") is None


def test_search_cursor_round_trips_the_exact_score() -> None:
    s = _item()
    assert decode_search_cursor(search_cursor(0.123457, s)) == (0.123457, NOW, s.id)


@pytest.mark.parametrize(
    "position",
    [
        {"o": "popular", "l": 1, "i": str(uuid.uuid4())},  # another sort's cursor
        {"o": "recent", "t": "yesterday", "i": str(uuid.uuid4())},
        {"o": "recent", "t": "2026-11-23T10:00:00", "i": str(uuid.uuid4())},  # no time zone
        {"o": "recent", "t": NOW.isoformat(), "i": "not-a-uuid"},
        {"o": "recent", "t": 12, "i": str(uuid.uuid4())},
        {"o": "recent", "i": str(uuid.uuid4())},
    ],
)
def test_recent_cursors_that_were_not_ours_are_400(position: dict) -> None:
    with pytest.raises(ValidationFailed):
        decode_list_cursor(encode_cursor(position), "recent")


@pytest.mark.parametrize("likes", [True, "3", 1.5, None])
def test_popular_cursors_need_an_integer(likes: object) -> None:
    with pytest.raises(ValidationFailed):
        decode_list_cursor(encode_cursor({"o": "popular", "l": likes, "i": str(uuid.uuid4())}), "popular")


@pytest.mark.parametrize(
    "position",
    [
        {"o": "recent", "s": 0.5, "t": NOW.isoformat(), "i": str(uuid.uuid4())},
        {"o": "search", "s": "high", "t": NOW.isoformat(), "i": str(uuid.uuid4())},
        {"o": "search", "s": True, "t": NOW.isoformat(), "i": str(uuid.uuid4())},
    ],
)
def test_search_cursors_that_were_not_ours_are_400(position: dict) -> None:
    with pytest.raises(ValidationFailed):
        decode_search_cursor(encode_cursor(position))


def _raw_cursor(json_text: str) -> str:
    # By hand: json.dumps writes no 1e400, and a hostile client need not use it.
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "likes",
    [str(2**63), str(-(2**63) - 1), "1" + "0" * 400, "1e400"],
    ids=["2**63", "-2**63-1", "10**400", "1e400"],
)
def test_popular_cursors_outside_the_bigint_range_are_400(likes: str) -> None:
    cursor = _raw_cursor(f'{{"i": "{uuid.uuid4()}", "l": {likes}, "o": "popular"}}')
    with pytest.raises(ValidationFailed):
        decode_list_cursor(cursor, "popular")


def test_popular_cursors_at_the_ends_of_the_bigint_range_are_positions() -> None:
    for likes in (2**63 - 1, -(2**63), 0):
        item = _item(likes)
        assert decode_list_cursor(list_cursor(item, "popular"), "popular") == (likes, item.id)


@pytest.mark.parametrize(
    "score",
    ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "10**400"],
)
def test_search_cursors_with_no_finite_score_are_400(score: str) -> None:
    cursor = _raw_cursor(f'{{"i": "{uuid.uuid4()}", "o": "search", "s": {score}, "t": "{NOW.isoformat()}"}}')
    with pytest.raises(ValidationFailed):
        decode_search_cursor(cursor)


def test_a_page_has_a_cursor_only_when_one_more_row_was_read() -> None:
    rows = [_item() for _ in range(3)]
    assert next_page(rows, 3, "recent") == (rows, None)
    page, cursor = next_page(rows, 2, "recent")
    assert page == rows[:2] and decode_list_cursor(cursor, "recent") == (NOW, rows[1].id)
