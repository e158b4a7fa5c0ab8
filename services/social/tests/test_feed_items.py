"""What a feed page takes from social's read model row of an item: its list fields only while they
are of the item's current version, and whether the item is to be shown at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pydantic_core

from codegram_clients.users import Author, AuthorSummary
from codegram_social.content import ListedItem
from codegram_social.feed_api import (
    FeedDoc,
    FeedDocEntry,
    FeedSnippet,
    FeedSnippetEntry,
    _entry_json,
    _from_row,
    _shown,
)

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


def _model_entry(item: ListedItem, author: Author, row: dict[str, Any]) -> FeedSnippetEntry | FeedDocEntry:
    """The entry built through the documented models: what `_entry_json` must serialise like."""
    facts = item.facts
    likes_count, comments_count = row["likes_count"], row["comments_count"]
    fields: dict[str, Any] = {
        "id": str(facts.id),
        "title": facts.title,
        "description": item.description,
        "tags": item.tags,
        "visibility": facts.visibility,
        "created_at": facts.created_at,
        "updated_at": facts.updated_at,
        "author": AuthorSummary.of(author),
        "likes_count": 0 if likes_count is None else likes_count,
        "comments_count": 0 if comments_count is None else comments_count,
        "liked_by_me": bool(row["liked"]),
    }
    if facts.kind == "snippet":
        snippet = FeedSnippet(**fields, language=item.language or "", code_preview=item.code_preview or "")
        return FeedSnippetEntry(type="snippet", item=snippet)
    return FeedDocEntry(type="doc", item=FeedDoc(**fields, slug=item.slug or ""))


def test_an_entry_built_as_json_values_is_byte_for_byte_its_model() -> None:
    author = Author(AUTHOR, "ada", 'Ada "Countess" Lovelace ✓', "https://avatars.example/a.png")
    cases = [
        _row(),
        _row(kind="doc", language=None, code_preview=None, slug="a-doc", tags=[]),
        _row(description="", code_preview=None, language=None),  # a snippet with nothing listed yet
        # Times as the database gives them (UTC), with and without microseconds, and in another zone.
        _row(
            created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            updated_at=AT + timedelta(microseconds=7),
            listed_at=AT + timedelta(microseconds=7),
        ),
        _row(created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5)))),
    ]
    for row in cases:
        item = _from_row(row)
        assert item is not None
        for counts in (
            {"likes_count": None, "comments_count": None, "liked": None},
            {"likes_count": 3, "comments_count": 1, "liked": True},
        ):
            values = row | counts
            model = _model_entry(item, author, values)
            assert pydantic_core.to_json(_entry_json(item, author, values)) == pydantic_core.to_json(model)
