"""A list page's snippets and a search's hits as plain JSON values are exactly what their models
serialise to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pydantic_core
import pytest

from codegram_clients.users import Author
from codegram_content.http_routes import search_hit, search_hit_json
from codegram_content.items import Authored, SearchHit
from codegram_snippets.api import KIND, to_list_item, to_list_item_json
from codegram_snippets.domain import Snippet


@pytest.mark.parametrize("liked", [False, True])
@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_the_json_values_are_the_models_json(liked: bool, created_at: datetime) -> None:
    author = Author(
        id=uuid.uuid4(), username="ada", full_name='Ada "Byron" <L>', avatar_url="https://a/x.png"
    )
    snippet = Snippet(
        id=uuid.uuid4(),
        author_id=author.id,
        title="Ünïcode\u2028title",
        description="",
        tags=("python", "c++"),
        visibility="public",
        likes_count=7,
        comments_count=2**40,
        created_at=created_at,
        updated_at=created_at + timedelta(seconds=1),
        code="def f():\n" + "    return 1\n" * 30,
        language="python",
        language_detected=True,
    )
    item = Authored(snippet, author, liked)
    assert pydantic_core.to_json(to_list_item_json(item)) == pydantic_core.to_json(to_list_item(item))


@pytest.mark.parametrize("score", [0.0, 0.026541, 0.999999])
def test_a_search_hit_as_json_values_is_the_models_json(score: float) -> None:
    author = Author(id=uuid.uuid4(), username="ada", full_name="Ada <L>", avatar_url="")
    when = datetime(2026, 1, 2, 3, 4, 5, 12, tzinfo=UTC)
    snippet = Snippet(
        id=uuid.uuid4(),
        author_id=author.id,
        title="t",
        description="d",
        tags=("go",),
        visibility="public",
        likes_count=0,
        comments_count=1,
        created_at=when,
        updated_at=when,
        code="package main\n",
        language="go",
        language_detected=False,
    )
    highlights = {"title": ["<mark>t</mark>"], "description": [], "code": []}
    found = SearchHit(snippet, author, score, "c1", highlights)
    as_json = pydantic_core.to_json({"data": [search_hit_json(KIND, found)]})
    as_model = pydantic_core.to_json(KIND.results_schema(data=[search_hit(KIND, found)]), by_alias=True)
    assert as_json == as_model
