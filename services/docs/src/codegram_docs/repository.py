"""Every query of the docs service (the ones all content shares are codegram_content.store's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from codegram_content.store import ContentRows
from codegram_docs.domain import Doc
from codegram_docs.models import authors as doc_authors
from codegram_docs.models import docs
from codegram_docs.slugs import numbered

# Content highlights come from this much of the head of the markdown (see highlighted).
HEADLINE_CONTENT_CHARS = 64 * 1024
# A slug taken between reading the author's slugs and inserting: read again and take the next.
# Each lost attempt means another create of the same title committed, so N creates racing need up
# to N - 1 retries; this bounds only a flood.
SLUG_ATTEMPTS = 32


@dataclass(frozen=True, slots=True)
class ListFilters:
    tags: Sequence[str] = ()

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The conditions, their values as the named bindparams `values` gives."""
        if not self.tags:
            return []
        return [docs.c.tags.contains(sa.bindparam("tags", list(self.tags), type_=ARRAY(sa.Text)))]

    def values(self) -> dict[str, Any]:
        return {"tags": list(self.tags)} if self.tags else {}


class SlugsExhausted(Exception):
    """Every attempt to take a free slug lost a race (not expected outside a flood of creates)."""


class DocRepository(ContentRows[Doc]):
    table = docs
    authors = doc_authors
    item_class = Doc
    body_field = "content"
    # Lists and search hits carry no content: a page of 100 docs of 512 KiB would be 100 MB.
    in_lists = {"content": sa.literal(""), "content_html": sa.literal("")}

    async def _slugs_like(self, author_id: UUID, base: str) -> set[str]:
        pattern = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"
        query = sa.select(docs.c.slug).where(
            docs.c.author_id == author_id, sa.or_(docs.c.slug == base, docs.c.slug.like(pattern))
        )
        return set((await self.session.execute(query)).scalars())

    async def insert(self, values: dict[str, Any], base_slug: str) -> Doc:
        """Insert with the first free slug of `base_slug` for this author.

        Race-safe without locks: the unique index on (author_id, slug) decides, `ON CONFLICT DO
        NOTHING` reports a lost race as no row, and the slugs are read again (a new statement sees
        the winner's committed row) to take the next number.
        """
        vector = await self._vector_of({f: values[f] for f in self.searched_fields})
        for _ in range(SLUG_ATTEMPTS):
            slug = numbered(base_slug, await self._slugs_like(values["author_id"], base_slug))
            query = (
                pg_insert(docs)
                .values(**values, slug=slug, search=vector)
                .on_conflict_do_nothing(index_elements=[docs.c.author_id, docs.c.slug])
                .returning(*self.all_columns)
            )
            row = (await self.session.execute(query)).first()
            if row is not None:
                return self.item(row)
        raise SlugsExhausted(base_slug)

    async def by_slug(self, author_id: UUID, slug: str) -> Doc | None:
        query = sa.select(*self.all_columns).where(docs.c.author_id == author_id, docs.c.slug == slug)
        row = (await self.session.execute(query)).first()
        return self.item(row) if row else None

    def highlighted(self) -> dict[str, sa.ColumnElement[str]]:
        # ts_headline parses the whole text it is given: content highlights look at its head only,
        # so a page of 512 KiB docs costs a bounded amount (a later match shows no content fragment).
        return {**super().highlighted(), "content": sa.func.substr(docs.c.content, 1, HEADLINE_CONTENT_CHARS)}
