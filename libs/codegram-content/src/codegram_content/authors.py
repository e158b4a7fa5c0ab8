"""Authors as the content services show them: a read model of the users service's profiles (id,
username, full name, avatar) in the service's own schema, kept from the users service's
`codegram.users.user.{created,updated}` events and read through to it on a miss.

A page's authors are one indexed read of the local table, not a gRPC call to the users service (and
a few milliseconds of its CPU) per page. What the table does not hold (a user created before the
service first subscribed, or whose event has not arrived yet) is asked for over gRPC, once, in one
batched call, and kept.

Which row wins: an event's row carries the event's `occurred_at` (the users service sets it while
it holds the user's row lock, so a user's events are stamped in commit order), and an event only
replaces a row stamped earlier: a late or redelivered event never undoes a newer one. A row read
through the users service carries no stamp, so any event replaces it; and it never replaces a
row that is there (the answer may predate an event that was committed meanwhile). Each change of
a user is an event, so the newest event settles the row whatever order things arrived in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.users import Author, AuthorDirectory
from codegram_kit.db.engine import Database
from codegram_kit.db.fast_reads import Shaped
from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import users_pb2 as user_events

USER_CREATED = "codegram.users.user.created"
USER_UPDATED = "codegram.users.user.updated"
_MESSAGES: dict[str, Any] = {USER_CREATED: user_events.UserCreated, USER_UPDATED: user_events.UserUpdated}


def authors_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "authors",
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("avatar_url", sa.Text, nullable=False),
        # `occurred_at` of the user event the row holds; NULL when it was read through the users
        # service (any event then replaces it).
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
    )


def _author(row: Any) -> Author:
    return Author(id=row[0], username=row[1], full_name=row[2], avatar_url=row[3])


class LocalAuthorDirectory:
    """The `AuthorDirectory` of a content service: summaries from the local table (`authors_table`),
    what it lacks from `remote` (the users service) and kept; usernames resolved by `remote`."""

    def __init__(self, db: Database, table: sa.Table, remote: AuthorDirectory) -> None:
        self.db = db
        self.table = table
        self.remote = remote

    async def summaries(self, ids: Collection[UUID]) -> dict[UUID, Author]:
        if not ids:
            return {}
        found = {row[0]: _author(row) for row in await self._known_rows(ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            fetched = await self.remote.summaries(missing)
            if fetched:
                await self._keep(fetched.values())
            found.update(fetched)
        return found

    async def _known_rows(self, ids: Collection[UUID]) -> list[Any]:
        c = self.table.c

        def build() -> sa.Select[Any]:
            any_id = sa.func.any(sa.bindparam("ids", type_=sa.ARRAY(sa.Uuid)))
            return sa.select(c.id, c.username, c.full_name, c.avatar_url).where(c.id == any_id)

        return await self.db.fast.fetch(Shaped((self.table.fullname, "authors"), build, {"ids": list(ids)}))

    async def _keep(self, authors: Collection[Author]) -> None:
        """Rows for authors read through the users service, unstamped; a row already there (an
        event's, perhaps newer than this answer) stays."""
        values = [
            {"id": a.id, "username": a.username, "full_name": a.full_name, "avatar_url": a.avatar_url}
            for a in authors
        ]
        insert = pg_insert(self.table).values(values).on_conflict_do_nothing(index_elements=["id"])
        async with self.db.engine.begin() as conn:
            await conn.execute(insert)

    async def find_id(self, username: str) -> UUID | None:
        return await self.remote.find_id(username)


async def apply_user_event(session: AsyncSession, table: sa.Table, subject: str, data: bytes) -> None:
    """Write the profile a user event carries, unless the row holds a newer event's."""
    message = _MESSAGES.get(subject)
    if message is None:
        return
    event = message.FromString(data)
    try:
        user_id = UUID(event.user_id)
    except ValueError:
        return
    changed_at = event.occurred_at.ToDatetime(tzinfo=UTC)
    profile = {"username": event.username, "full_name": event.full_name, "avatar_url": event.avatar_url}
    insert = pg_insert(table).values(id=user_id, changed_at=changed_at, **profile)
    newer = sa.or_(table.c.changed_at.is_(None), table.c.changed_at < insert.excluded.changed_at)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={**{k: insert.excluded[k] for k in profile}, "changed_at": insert.excluded.changed_at},
            where=newer,
        )
    )


def author_profiles(table: sa.Table) -> Callable[[ServiceRuntime], IdempotentConsumer]:
    """The consumer keeping `table` (`authors_table`) from the users service's user events."""

    def build(runtime: ServiceRuntime) -> IdempotentConsumer:
        async def handle(session: AsyncSession, msg: Msg) -> None:
            await apply_user_event(session, table, msg.subject, msg.data)

        return runtime.consumer("author-profiles", list(_MESSAGES), handle)

    return build
