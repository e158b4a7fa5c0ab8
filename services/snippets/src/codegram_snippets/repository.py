"""Every query of the snippets service (the ones all content shares are codegram_content.store's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from codegram_content.search_sql import content_vector
from codegram_content.store import ContentRows
from codegram_snippets.domain import PREVIEW_CHARS, Snippet
from codegram_snippets.models import authors as snippet_authors
from codegram_snippets.models import snippets


@dataclass(frozen=True, slots=True)
class ListFilters:
    language: str | None = None
    tags: Sequence[str] = ()

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The conditions, their values as the named bindparams `values` gives."""
        conditions = []
        if self.language:
            conditions.append(snippets.c.language == sa.bindparam("language", self.language))
        if self.tags:
            tags = sa.bindparam("tags", list(self.tags), type_=ARRAY(sa.Text))
            conditions.append(snippets.c.tags.contains(tags))
        return conditions

    def values(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.language:
            found["language"] = self.language
        if self.tags:
            found["tags"] = list(self.tags)
        return found


def snippet_vector(title: str, description: str, code: str, tags: Sequence[str]) -> sa.ColumnElement[Any]:
    """Title and tags weigh A, description B, code C (as the repository builds it at each write)."""
    return content_vector(title, description, code, tags)


class SnippetRepository(ContentRows[Snippet]):
    table = snippets
    authors = snippet_authors
    item_class = Snippet
    body_field = "code"
    # Lists read only the head of the code (the preview), never whole 100 KiB values.
    in_lists = {"code": sa.func.substr(snippets.c.code, 1, PREVIEW_CHARS)}

    async def insert(self, values: dict[str, Any]) -> Snippet:
        vector = await self._vector_of({f: values[f] for f in self.searched_fields})
        query = sa.insert(snippets).values(**values, search=vector).returning(*self.all_columns)
        return self.item((await self.session.execute(query)).one())
