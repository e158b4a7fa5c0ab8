"""Hot reads straight through asyncpg: SQLAlchemy Core statements, compiled once per shape, run on a
small pool of their own without a transaction or a session around them.

A list page read through an `AsyncSession` spends most of its CPU in the layers around a
sub-millisecond query (the session and its transaction, the greenlet bridge, psycopg's Python
protocol code, result processing): measured in bench/results/content-steps-2026-11-28.md. Here a
statement is still built with SQLAlchemy Core (one definition of each query), compiled for asyncpg
once per shape (SQLAlchemy's cache key: the same query with other values is the same shape), and
its values are sent positionally; rows come back as asyncpg records (by name or position).

A statement that is costly to build (a search: subqueries, functions, a dozen values) can be
given as a `Shaped` read instead: a key naming its shape, a function building it, and the values of
its named `bindparam`s. It is built and compiled once per key; each call only sends its values.
Every value that differs between calls of one key must be a named bindparam in `values`, and
everything else that differs must be in the key: what is neither is the first call's.

Only for single-statement reads that need no transaction: writes, and reads that must see their
own transaction, stay on the session. asyncpg prepares each statement, and after a few runs
Postgres may plan it once for any values; a read whose best plan depends on its values (a rare
search term or tag against one in every row, codegram_content.store) asks for `plan_per_value`, and runs on
a second pool whose sessions plan every statement for its values (`plan_cache_mode =
force_custom_plan`); the others keep the cheaper reused plans. A database that is away is a 503,
as it is on the session (errors.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import URL

from codegram_kit.web.errors import Unavailable

_DIALECT = asyncpg_dialect()
# Errors that say the database (or the connection to it) is away, not that the query is wrong.
_AWAY = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.QueryCanceledError,
)


async def _keep(_: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is: nothing here changes a session's state (no
    SET, LISTEN, advisory lock or open transaction), so asyncpg's default reset (a `RESET ALL`,
    `UNLISTEN *`, ... round trip at every release, a tenth of a list page's CPU) has nothing to undo."""


@dataclass(frozen=True, slots=True)
class Shaped:
    """A read built once per `key` by `build`; `values` are this call's named bindparams."""

    key: Hashable
    build: Callable[[], sa.Executable]
    values: Mapping[str, Any]
    plan_per_value: bool = False


class _Compiled:
    __slots__ = ("compiled", "defaults", "names", "sql")

    def __init__(self, statement: sa.Executable, key: Any) -> None:
        self.compiled = _DIALECT.statement_compiler(_DIALECT, statement, cache_key=key)  # type: ignore[arg-type]
        self.sql = str(self.compiled)
        self.names = tuple(self.compiled.positiontup or ())
        self.defaults: dict[str, Any] = {}


class FastConnection:
    """One pooled asyncpg connection, for the statements of one read."""

    def __init__(self, reads: FastReads, conn: asyncpg.Connection) -> None:
        self._reads = reads
        self._conn = conn

    async def fetch(self, statement: sa.Executable | Shaped) -> list[asyncpg.Record]:
        sql, args = self._reads.compiled(statement)
        return await self._conn.fetch(sql, *args)  # type: ignore[no-any-return]


class FastReads:
    """The asyncpg pool (opened at first use) and the compiled statements of one process."""

    def __init__(self, url: URL, *, max_size: int = 8, statement_timeout_ms: int = 15000) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_size = max_size
        self._timeout = str(statement_timeout_ms)
        # By `plan_per_value`: the pool whose sessions plan each statement for its values, or not.
        self._pools: dict[bool, asyncpg.Pool] = {}
        self._opening = asyncio.Lock()
        self._statements: dict[Any, _Compiled] = {}

    def compiled(self, statement: sa.Executable | Shaped) -> tuple[str, Sequence[Any]]:
        """The SQL of `statement`'s shape and its values in order."""
        if isinstance(statement, Shaped):
            return self._shaped(statement)
        key = statement._generate_cache_key()  # type: ignore[attr-defined]  # SQLAlchemy's own statement cache key
        if key is None:  # a statement SQLAlchemy cannot cache: compiled each time
            one = _Compiled(statement, None)
            params = one.compiled.construct_params()
        else:
            one = self._statements.get(key.key)  # type: ignore[assignment]
            if one is None:
                one = self._statements[key.key] = _Compiled(statement, key)
            params = one.compiled.construct_params(extracted_parameters=key.bindparams)
        return one.sql, [params[name] for name in one.names]

    def _shaped(self, read: Shaped) -> tuple[str, Sequence[Any]]:
        key = ("shaped", read.key)
        one = self._statements.get(key)
        if one is None:
            one = _Compiled(read.build(), None)
            # The values the statement was built with: its constants (a function's arguments);
            # the named values are replaced by each call's.
            one.defaults = dict(one.compiled.construct_params(params=dict(read.values)))
            self._statements[key] = one
        params = {**one.defaults, **read.values}
        return one.sql, [params[name] for name in one.names]

    async def _opened(self, plan_per_value: bool) -> asyncpg.Pool:
        pool = self._pools.get(plan_per_value)
        if pool is None:
            async with self._opening:
                pool = self._pools.get(plan_per_value)
                if pool is None:
                    settings = {"statement_timeout": self._timeout}
                    if plan_per_value:
                        settings["plan_cache_mode"] = "force_custom_plan"
                    pool = self._pools[plan_per_value] = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max_size, server_settings=settings, reset=_keep
                    )
        return pool

    @asynccontextmanager
    async def connection(self, *, plan_per_value: bool = False) -> AsyncIterator[FastConnection]:
        try:
            pool = await self._opened(plan_per_value)
            async with pool.acquire() as conn:
                yield FastConnection(self, conn)
        except _AWAY as exc:
            raise Unavailable(retry_after=1) from exc

    async def fetch(self, statement: sa.Executable | Shaped) -> list[asyncpg.Record]:
        plan_per_value = isinstance(statement, Shaped) and statement.plan_per_value
        async with self.connection(plan_per_value=plan_per_value) as conn:
            return await conn.fetch(statement)

    def checked_out(self) -> int:
        """Connections of the pools in use right now."""
        return sum(pool.get_size() - pool.get_idle_size() for pool in self._pools.values())

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
