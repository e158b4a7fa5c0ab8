"""A content service for one request: its session is closed at the end only when it still holds a
transaction (each use case's own transaction gives its connection back as it ends)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from codegram_content.authors import authors_table
from codegram_content.use_cases import opened


class Session:
    def __init__(self, in_transaction: bool) -> None:
        self.open = in_transaction
        self.closed = False

    def in_transaction(self) -> bool:
        return self.open

    async def close(self) -> None:
        self.closed = True


class Channel:
    """Enough of a gRPC channel for the clients' stubs to be built on."""

    def unary_unary(self, *args: Any, **kwargs: Any) -> None:
        return None


TABLE = authors_table(sa.MetaData(schema="notes"))


async def _use(session: Session) -> None:
    db = SimpleNamespace(sessions=lambda: session, fast=object())
    channel = Channel()
    runtime = SimpleNamespace(db=db, outbox=object(), channel=lambda target: channel)
    async with opened(runtime, "users:1", "social:1", TABLE, lambda *parts: parts) as parts:
        assert parts[0] is session


async def test_a_session_left_in_a_transaction_is_closed() -> None:
    session = Session(in_transaction=True)
    await _use(session)
    assert session.closed


async def test_a_session_the_request_never_used_is_left_alone() -> None:
    session = Session(in_transaction=False)
    await _use(session)
    assert not session.closed
