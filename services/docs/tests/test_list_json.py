"""A list page's docs as plain JSON values are exactly what their model serialises to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pydantic_core
import pytest

from codegram_clients.users import Author
from codegram_content.items import Authored
from codegram_docs.api import to_list_item, to_list_item_json
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
