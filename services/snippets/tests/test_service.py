"""Pure parts of the use cases: cursors that were not ours are 400s, and highlights are safe HTML."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from codegram_kit.errors import ValidationFailed
from codegram_kit.schemas import encode_cursor
from codegram_snippets.domain import Snippet
from codegram_snippets.repository import highlight_marks
from codegram_snippets.schemas import rfc3339
from codegram_snippets.service import (
    decode_list_cursor,
    decode_search_cursor,
    highlight_fragments,
    list_cursor,
    search_cursor,
)

START, STOP, DELIMITER = highlight_marks()
NOW = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


def _snippet(likes: int = 3) -> Snippet:
    return Snippet(
        id=uuid.uuid4(),
        author_id=uuid.uuid4(),
        title="t",
        description="",
        code="x",
        language="text",
        language_detected=False,
        tags=(),
        visibility="public",
        likes_count=likes,
        comments_count=0,
        created_at=NOW,
        updated_at=NOW,
    )


def test_list_cursors_round_trip_per_sort() -> None:
    s = _snippet()
    assert decode_list_cursor(list_cursor(s, "recent"), "recent") == (NOW, s.id)
    assert decode_list_cursor(list_cursor(s, "popular"), "popular") == (3, s.id)
    assert decode_list_cursor(None, "recent") is None


def test_search_cursor_round_trips_the_exact_score() -> None:
    s = _snippet()
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


def test_highlights_mark_matches_and_keep_everything_else_escaped() -> None:
    headline = (
        f"&lt;b&gt;{START}parse{STOP}&lt;/b&gt; &amp; more{DELIMITER}no match here{DELIMITER}"
        f"x {START}json{STOP} &quot;y"
    )
    assert highlight_fragments(headline) == [
        "&lt;b&gt;<mark>parse</mark>&lt;/b&gt; &amp; more",
        'x <mark>json</mark> "y',
    ]


def test_an_entity_cut_in_half_stays_harmless() -> None:
    (fragment,) = highlight_fragments(f"&lt{START}script{STOP}&gt")
    assert fragment == "&lt;<mark>script</mark>&gt;"
    assert fragment.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_no_match_no_fragment() -> None:
    assert highlight_fragments("") == []
    assert highlight_fragments("plain title") == []


def test_timestamps_are_rfc3339_utc_with_fixed_width() -> None:
    assert rfc3339(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == "2026-11-23T10:00:00.000000Z"
    assert rfc3339(NOW) == "2026-11-23T10:00:00.123456Z"
