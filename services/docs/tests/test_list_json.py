"""A list page's docs and a search's hits as plain JSON values are exactly what their models
serialise to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pydantic_core
import pytest

from codegram_clients.users import Author
from codegram_content.http_routes import search_hit, search_hit_json
from codegram_content.items import Authored, SearchHit
from codegram_docs.api import KIND, to_list_item, to_list_item_json
from codegram_docs.domain import Doc


@pytest.mark.parametrize("liked", [False, True])
def test_the_json_values_are_the_models_json(liked: bool) -> None:
    author = Author(id=uuid.uuid4(), username="ada", full_name="Ada", avatar_url="")
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    doc = Doc(
        id=uuid.uuid4(),
        author_id=author.id,
        title="A doc",
        description="About <things>",
        tags=(),
        visibility="public",
        likes_count=0,
        comments_count=1,
        created_at=now,
        updated_at=now + timedelta(days=1),
        slug="a-doc",
        content="",
        content_html="",
    )
    item = Authored(doc, author, liked)
    assert pydantic_core.to_json(to_list_item_json(item)) == pydantic_core.to_json(to_list_item(item))


def test_a_search_hit_as_json_values_is_the_models_json() -> None:
    author = Author(id=uuid.uuid4(), username="ada", full_name="Ada", avatar_url="")
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    doc = Doc(
        id=uuid.uuid4(),
        author_id=author.id,
        title="A doc",
        description="",
        tags=("x",),
        visibility="public",
        likes_count=3,
        comments_count=0,
        created_at=now,
        updated_at=now,
        slug="a-doc",
        content="",
        content_html="",
    )
    highlights = {"title": ["A <mark>doc</mark>"], "description": [], "content": []}
    found = SearchHit(doc, author, 0.5, "c1", highlights)
    as_json = pydantic_core.to_json({"data": [search_hit_json(KIND, found)]})
    as_model = pydantic_core.to_json(KIND.results_schema(data=[search_hit(KIND, found)]), by_alias=True)
    assert as_json == as_model
