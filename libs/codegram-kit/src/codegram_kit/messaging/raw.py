"""The psycopg connection beneath a session, for hot paths that run a few fixed statements."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as pg_sql
from sqlalchemy.ext.asyncio import AsyncSession


async def driver(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """`session`'s psycopg connection, in its transaction (which SQLAlchemy commits or rolls back
    as usual). A statement run on it skips SQLAlchemy's per-statement compile, cache-key and
    result work (a few hundred microseconds of CPU each); psycopg prepares it after a few runs."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    return raw  # type: ignore[no-any-return]


def table_name(table: sa.Table) -> pg_sql.Identifier:
    """The table's quoted, schema-qualified name for a psycopg statement."""
    return pg_sql.Identifier(*([table.schema] if table.schema else []), table.name)


class Statement:
    """A statement composed with psycopg.sql, rendered to text once, on first use."""

    def __init__(self, composed: pg_sql.Composed) -> None:
        self.composed = composed
        self._text: str | None = None

    def text(self, connection: psycopg.AsyncConnection[Any]) -> str:
        if self._text is None:
            self._text = self.composed.as_string(connection)
        return self._text
