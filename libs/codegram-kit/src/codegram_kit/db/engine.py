"""Async SQLAlchemy bound to the service's own schema, and the unit of work committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from codegram_kit.db.fast_reads import FastReads

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs from operators and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str, schema: str, pool_size: int = 10) -> AsyncEngine:
    # search_path pins unqualified names to the service's schema; the role has no rights elsewhere.
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout (a quarter of a simple read's
        # throughput, bench/results.md). After a database restart the first error invalidates the
        # whole pool, so one request fails instead of every checkout paying forever.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Errors name the statement, never its values (emails, bios, token hashes) in log lines.
        hide_parameters=True,
        connect_args={"options": f"-c search_path={schema} -c statement_timeout=15000"},
    )


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Hot single-statement reads on asyncpg (fast_reads.py), a small pool opened at first use.
        self.fast = FastReads(engine.url)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.fast.close()
        await self.engine.dispose()
