"""Cursor encoding and the Link header of paginated lists."""

from __future__ import annotations

import pytest

from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import decode_cursor, encode_cursor, next_link


def test_cursor_round_trips() -> None:
    position = {"u": "octocat", "id": "42"}
    assert decode_cursor(encode_cursor(position), ("u", "id")) == position


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor(None, ("u",)) is None
    assert decode_cursor("", ("u",)) is None


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", encode_cursor({"other": 1}), "W10"])
def test_foreign_cursors_are_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        decode_cursor(cursor, ("u",))
    assert err.value.details[0]["field"] == "cursor"


def test_next_link_keeps_the_query_and_replaces_the_cursor() -> None:
    link = next_link("/api/v1/users", {"q": "oct", "cursor": "old", "limit": "2"}, "new")
    assert link == '</api/v1/users?q=oct&limit=2&cursor=new>; rel="next"'
    assert next_link("/api/v1/users", {}, None) is None
