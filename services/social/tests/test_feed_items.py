"""What a feed page takes from social's read model row of an item: its list fields only while they
are of the item's current version, and whether the item is to be shown at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from codegram_social.feed_api import _from_row, _shown

AUTHOR = uuid4()
AT = datetime(2026, 12, 6, tzinfo=UTC)


def _row(**changes: Any) -> dict[str, Any]:
    row = {
        "kind": "snippet",
        "id": uuid4(),
        "author_id": AUTHOR,
        "owner_id": AUTHOR,
        "visibility": "public",
        "deleted": False,
        "title": "Title",
        "created_at": AT,
        "updated_at": AT,
        "description": "Words",
        "tags": ["one"],
        "language": "python",
        "code_preview": "x = 1",
        "slug": None,
        "listed_at": AT,
    }
    return row | changes


def test_list_fields_of_the_current_version_are_used() -> None:
    item = _from_row(_row())
    assert item is not None
    assert (item.facts.title, item.description, item.tags, item.code_preview) == (
        "Title",
        "Words",
        ["one"],
        "x = 1",
    )


def test_list_fields_of_an_older_version_or_none_are_read_again() -> None:
    assert _from_row(_row(listed_at=AT - timedelta(microseconds=1))) is None
    assert _from_row(_row(listed_at=None)) is None


def test_only_a_public_live_item_of_the_timelines_author_is_shown() -> None:
    assert _shown(_row()) is True
    assert _shown(_row(visibility="private")) is False
    assert _shown(_row(visibility="unlisted")) is False
    assert _shown(_row(deleted=True)) is False
    assert _shown(_row(owner_id=uuid4())) is False
    assert _shown(_row(owner_id=None)) is None  # not heard of: read through
