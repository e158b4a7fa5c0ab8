"""Tables and queries the content repositories (snippets, docs) share.

A content table has the columns of `ContentItem`, a weighted `search` tsvector and its own columns
(`content_table`). Only public items are ever listed or searched by others, so those indexes are
partial (`public_indexes`), and a query can only use them when it says `visibility = 'public'` in
its text: `is_public` writes that predicate as a literal, not a bound parameter, for exactly this
reason. Lists are keyset-paginated on `(created_at, id)` or `(likes_count, id)`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.users import Author
from codegram_content.items import ContentItem
from codegram_content.keyset import Order
from codegram_content.search_sql import (
    BODY_HEADLINE,
    TITLE_HEADLINE,
    content_vector,
    headline,
    rank_order,
    ranked_page,
)
from codegram_kit.db.fast_reads import Shaped

ItemT = TypeVar("ItemT", bound=ContentItem)


def content_table(name: str, metadata: sa.MetaData, *own: sa.SchemaItem) -> sa.Table:
    """A content table: its id and author, the service's own columns and constraints, then the rest."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        # The users service's user id; no foreign key across schemas (ARCHITECTURE.md).
        sa.Column("author_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        *own,
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("visibility", sa.Text, nullable=False),
        # Kept by the social service's like and comment events once it exists.
        sa.Column("likes_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("comments_count", sa.BigInteger, nullable=False, server_default="0"),
        # Weighted terms (title and tags A, description B, body C) built at each write.
        sa.Column("search", TSVECTOR, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("visibility IN ('public', 'unlisted', 'private')", name="visibility"),
    )


def public_indexes(table: sa.Table) -> None:
    """Newest and most liked public items, their tags and terms; and every item of an author, newest first."""
    public = sa.text("visibility = 'public'")
    c, name = table.c, table.name
    sa.Index(f"ix_{name}_public_recent", c.created_at.desc(), c.id.desc(), postgresql_where=public)
    sa.Index(f"ix_{name}_public_popular", c.likes_count.desc(), c.id.desc(), postgresql_where=public)
    sa.Index(f"ix_{name}_public_tags", c.tags, postgresql_using="gin", postgresql_where=public)
    sa.Index(f"ix_{name}_public_search", c.search, postgresql_using="gin", postgresql_where=public)
    # An author's own list shows every visibility to the author and only public ones to others.
    sa.Index(f"ix_{name}_author_recent", c.author_id, c.created_at.desc(), c.id.desc())


def is_public(table: sa.Table) -> sa.ColumnElement[bool]:
    return table.c.visibility == sa.literal_column("'public'")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def item_from_row(cls: type[ItemT], row: Any) -> ItemT:
    """The item of a row read through the session (`sa.Row`) or the fast reads (an asyncpg record)."""
    mapping = row._mapping if isinstance(row, sa.Row) else row
    values = {name: mapping[name] for name in _field_names(cls)}  # type: ignore[arg-type]
    values["tags"] = tuple(values["tags"])
    return cls(**values)


def public_list(
    table: sa.Table,
    columns: Sequence[sa.ColumnElement[Any]],
    where: Sequence[sa.ColumnElement[bool]],
    order: Order,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> sa.Select[Any]:
    """Public items matching `where` in keyset order: newest or most liked first, then id."""
    query = sa.select(*columns).where(is_public(table), *where)
    key = table.c.created_at if order == "recent" else table.c.likes_count
    if after is not None:
        query = query.where(sa.tuple_(key, table.c.id) < sa.tuple_(*after))  # type: ignore[arg-type]
    return query.order_by(key.desc(), table.c.id.desc()).limit(limit)


def author_list(
    table: sa.Table,
    columns: Sequence[sa.ColumnElement[Any]],
    author_id: UUID,
    *,
    public_only: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> sa.Select[Any]:
    """An author's items, newest first (all of them, or the public ones only)."""
    query = sa.select(*columns).where(table.c.author_id == author_id)
    if public_only:
        query = query.where(is_public(table))
    if after is not None:
        query = query.where(sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(*after))  # type: ignore[arg-type]
    return query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)


def search_page(
    table: sa.Table,
    columns: Sequence[sa.ColumnElement[Any]],
    where: Sequence[sa.ColumnElement[bool]],
    websearch: str,
    after: tuple[float, datetime, UUID] | None,
    limit: int,
    candidate_cap: int,
) -> sa.Select[Any]:
    """`(score, *columns)` of one page of public matches, best first (search_sql.ranked_page): the
    page is cut from the ranked candidates first, and only its rows are read whole."""
    ranked = ranked_page(table, [is_public(table), *where], websearch, after, limit, candidate_cap)
    return (
        sa.select(ranked.c.score, *columns)
        .join(ranked, ranked.c.id == table.c.id)
        .order_by(*rank_order(ranked))
    )


# The author columns a list row carries beside the item's (`with_authors`).
_AUTHOR_COLUMNS = ("username", "full_name", "avatar_url")


def with_authors(page: sa.Select[Any], authors: sa.Table, order: Order) -> sa.Select[Any]:
    """`page`'s rows, each with its author's summary from the service's read model of them
    (codegram_content.authors) as `author_username`, ... (NULL when the model lacks the author):
    one statement and one round trip for a list page instead of two. The page is cut first (its
    plan is the page's alone), then each of its rows looks up its author by key."""
    inner = page.subquery("page")
    # LATERAL with LIMIT 1 (the id is the key, so it limits nothing): a plain join of the page
    # to the authors is planned as a hash join over every author row.
    author = (
        sa.select(*(authors.c[name] for name in _AUTHOR_COLUMNS))
        .where(authors.c.id == inner.c.author_id)
        .limit(1)
        .lateral("author")
    )
    key = inner.c.created_at if order == "recent" else inner.c.likes_count
    return (
        sa.select(inner, *(author.c[name].label(f"author_{name}") for name in _AUTHOR_COLUMNS))
        .select_from(inner.outerjoin(author, sa.true()))
        .order_by(key.desc(), inner.c.id.desc())
    )


def authors_in(rows: Sequence[Any]) -> dict[UUID, Author]:
    """The authors `with_authors` rows carry, by id; rows whose author the read model lacks give none."""
    found = {}
    for row in rows:
        username = row["author_username"]
        if username is not None:
            author_id = row["author_id"]
            found[author_id] = Author(author_id, username, row["author_full_name"], row["author_avatar_url"])
    return found


class ContentFilters(Protocol):
    """A list's or a search's filters (tags, a language, ...) as conditions on the service's table."""

    @property
    def tags(self) -> Sequence[str]: ...

    def where(self) -> list[sa.ColumnElement[bool]]: ...

    def values(self) -> dict[str, Any]:
        """The values of `where`'s named bindparams (for `Shaped` reads)."""
        ...


class ContentRows(Generic[ItemT]):
    """The queries every content repository runs; a repository subclass names its table, its item
    class and its body field, and what lists read instead of whole columns."""

    table: sa.Table
    item_class: type[ItemT]
    # The item's body (a snippet's code, a doc's markdown): searched with weight C, and highlighted.
    body_field: str
    # Columns lists and search hits read as something smaller (a preview, nothing), by name.
    in_lists: Mapping[str, sa.ColumnElement[Any]] = {}
    # The service's read model of authors (codegram_content.authors.authors_table): the public
    # list reads each item's author in its own statement (`with_authors`).
    authors: sa.Table

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Vectors built for this repository object (one request), by the searched fields' values.
        self._vectors: dict[tuple[Any, ...], sa.ColumnElement[Any]] = {}

    @property
    def all_columns(self) -> list[sa.ColumnElement[Any]]:
        return [c for c in self.table.c if c.name != "search"]

    @property
    def list_columns(self) -> list[sa.ColumnElement[Any]]:
        """What lists and search hits read: every column but the search vector, some as `in_lists`."""
        return [
            self.in_lists[c.name].label(c.name) if c.name in self.in_lists else c for c in self.all_columns
        ]

    @property
    def searched_fields(self) -> tuple[str, ...]:
        """The fields the search vector is built from (`vector`'s keyword arguments)."""
        return ("title", "description", self.body_field, "tags")

    def vector(self, **fields: Any) -> sa.ColumnElement[Any]:
        return content_vector(fields["title"], fields["description"], fields[self.body_field], fields["tags"])

    def item(self, row: Any) -> ItemT:
        return item_from_row(self.item_class, row)

    async def _vector_of(self, fields: dict[str, Any]) -> sa.ColumnElement[Any]:
        # Splitting a long body into terms takes up to a good part of a second: off the event loop.
        return await asyncio.to_thread(functools.partial(self.vector, **fields))

    def by_id_query(self, item_id: UUID) -> sa.Select[Any]:
        return sa.select(*self.all_columns).where(self.table.c.id == item_id)

    async def by_id(self, item_id: UUID, *, for_update: bool = False) -> ItemT | None:
        query = self.by_id_query(item_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return self.item(row) if row else None

    async def by_ids(self, ids: Sequence[UUID]) -> list[ItemT]:
        if not ids:
            return []
        query = sa.select(*self.list_columns).where(self.table.c.id.in_(ids))
        return [self.item(r) for r in (await self.session.execute(query)).all()]

    async def search_vector_after(
        self, current: ItemT, changes: dict[str, Any]
    ) -> sa.ColumnElement[Any] | None:
        """The search vector of `current` with `changes` applied; None when no searched field changes."""
        if not any(f in changes for f in self.searched_fields):
            return None
        fields = {f: changes.get(f, getattr(current, f)) for f in self.searched_fields}
        key = tuple(tuple(v) if isinstance(v, list | tuple) else v for v in fields.values())
        if key not in self._vectors:
            self._vectors[key] = await self._vector_of(fields)
        return self._vectors[key]

    async def update(
        self, current: ItemT, changes: dict[str, Any], search: sa.ColumnElement[Any] | None
    ) -> ItemT:
        """Write `changes`, with `search` as the new vector: search_vector_after of the same changes,
        worked out beforehand (None: no searched field changes)."""
        values = dict(changes)
        if search is not None:
            values["search"] = search
        query = (
            sa.update(self.table)
            .where(self.table.c.id == current.id)
            .values(**values)
            .returning(*self.all_columns)
        )
        return self.item((await self.session.execute(query)).one())

    async def delete(self, item_id: UUID) -> None:
        await self.session.execute(sa.delete(self.table).where(self.table.c.id == item_id))

    def list_public_read(
        self,
        filters: ContentFilters,
        author_id: UUID | None,
        order: Order,
        after: tuple[Any, UUID] | None,
        limit: int,
    ) -> Shaped:
        """Public items in keyset order, (created_at, id) or (likes_count, id), newest or most liked
        first, with their authors as the read model has them (`with_authors`, `authors_in`): a
        `Shaped` read, built and compiled once per shape."""
        named = filters.values()
        values: dict[str, Any] = {"limit": limit, **named}
        if author_id is not None:
            values["author_id"] = author_id
        if after is not None:
            values["after_key"], values["after_id"] = after
        shape = (type(self), "list", order, after is not None, author_id is not None, tuple(sorted(named)))

        def build() -> sa.Select[Any]:
            where = filters.where()
            if author_id is not None:
                where.append(self.table.c.author_id == sa.bindparam("author_id", type_=sa.Uuid))
            key_type: sa.types.TypeEngine[Any] = (
                sa.DateTime(timezone=True) if order == "recent" else sa.BigInteger()
            )
            bound_after = None
            if after is not None:
                bound_after = (
                    sa.bindparam("after_key", type_=key_type),
                    sa.bindparam("after_id", type_=sa.Uuid),
                )
            limit_value = sa.bindparam("limit", type_=sa.Integer)
            page = public_list(self.table, self.list_columns, where, order, bound_after, limit_value)  # type: ignore[arg-type]
            return with_authors(page, self.authors, order)

        # A tag's share of the rows decides the plan (its GIN index, or the newest-first scan).
        return Shaped(shape, build, values, plan_per_value=bool(filters.tags))

    def authors_in(self, rows: Sequence[Any]) -> dict[UUID, Author]:
        return authors_in(rows)

    def list_by_author_query(
        self, author_id: UUID, *, public_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> sa.Select[Any]:
        return author_list(
            self.table, self.list_columns, author_id, public_only=public_only, after=after, limit=limit
        )

    def search_query(
        self,
        websearch: str,
        filters: ContentFilters,
        after: tuple[float, datetime, UUID] | None,
        limit: int,
        candidate_cap: int,
    ) -> sa.Select[Any]:
        return search_page(
            self.table, self.list_columns, filters.where(), websearch, after, limit, candidate_cap
        )

    def search_read(
        self,
        websearch: str,
        filters: ContentFilters,
        after: tuple[float, datetime, UUID] | None,
        limit: int,
        candidate_cap: int,
    ) -> Shaped:
        """`search_query` as a `Shaped` read: a search statement takes longer to build than its
        query takes to run on a selective term, so it is built and compiled once per shape."""
        named = filters.values()
        values: dict[str, Any] = {"websearch": websearch, "limit": limit, "cap": candidate_cap, **named}
        if after is not None:
            values["after_score"], values["after_time"], values["after_id"] = after
        shape = (type(self), "search", after is not None, tuple(sorted(named)))

        def build() -> sa.Select[Any]:
            bound_after = None
            if after is not None:
                bound_after = (
                    sa.bindparam("after_score", type_=sa.Float),
                    sa.bindparam("after_time", type_=sa.DateTime(timezone=True)),
                    sa.bindparam("after_id", type_=sa.Uuid),
                )
            return self.search_query(
                sa.bindparam("websearch", type_=sa.Text),  # type: ignore[arg-type]
                filters,
                bound_after,  # type: ignore[arg-type]
                sa.bindparam("limit", type_=sa.Integer),  # type: ignore[arg-type]
                sa.bindparam("cap", type_=sa.Integer),  # type: ignore[arg-type]
            )

        # A rare term wants the GIN index, a term in most rows the newest-first scan that stops
        # early; one generic plan for all was measured at 300 ms instead of 20 for a frequent term.
        return Shaped(shape, build, values, plan_per_value=True)

    def headlines_read(self, ids: Sequence[UUID], websearch: str) -> Shaped:
        """`headlines_query` as a `Shaped` read (see `search_read`)."""

        def build() -> sa.Select[Any]:
            return self.headlines_query(ids, sa.bindparam("websearch", type_=sa.Text))  # type: ignore[arg-type]

        return Shaped((type(self), "headlines"), build, {"ids": list(ids), "websearch": websearch})

    def highlighted(self) -> dict[str, sa.ColumnElement[str]]:
        """The texts search highlights, by field: the title whole, the others in fragments."""
        body = self.table.c[self.body_field]
        return {"title": self.table.c.title, "description": self.table.c.description, self.body_field: body}

    def headlines_query(self, ids: Sequence[UUID], websearch: str) -> sa.Select[Any]:
        columns = [
            headline(text, websearch, TITLE_HEADLINE if name == "title" else BODY_HEADLINE).label(name)
            for name, text in self.highlighted().items()
        ]
        # `= ANY(array)`: one statement shape for any number of ids (an IN list is one per count).
        any_id = sa.func.any(sa.bindparam("ids", list(ids), type_=sa.ARRAY(sa.Uuid)))
        return sa.select(self.table.c.id, *columns).where(self.table.c.id == any_id)

    def headlines_of(self, rows: Sequence[Any]) -> dict[UUID, dict[str, str]]:
        names = list(self.highlighted())
        return {r[0]: {name: r[i + 1] for i, name in enumerate(names)} for r in rows}
