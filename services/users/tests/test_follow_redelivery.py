"""A follow event delivered again (JetStream redelivers whatever was not acknowledged) moves the
follow counts once: the users service's follow-counts consumer against its real, migrated schema."""

from __future__ import annotations

import functools
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg

from codegram_devstack.fleet import Fleet
from codegram_kit.db.engine import Database, create_engine
from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.messaging.streams import MSG_ID_HEADER, connect
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.events.v1 import social_pb2
from codegram_users import models
from codegram_users.events import follow_counts


@dataclass
class Delivery:
    """One delivery of a JetStream message, as the consumer reads it, remembering its acks."""

    subject: str
    data: bytes
    headers: dict[str, str]
    metadata: Any = None
    acks: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.acks.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.acks.append("nak")


@pytest.fixture
def migrated(engines: Fleet) -> Fleet:
    """The engines, with the users schema as its own migrations leave it (idempotent)."""
    spec = engines.service_spec("users")
    subprocess.run([*spec.command, "migrate"], env=spec.env, check=True)
    return engines


@pytest.fixture
async def consumer(migrated: Fleet) -> AsyncIterator[tuple[IdempotentConsumer, Database]]:
    """The follow-counts consumer, as the users service builds it, on that schema."""
    engines = migrated
    db = Database(create_engine(engines.admin_url(), models.SCHEMA))
    nc = await connect(engines.nats_url, "users-tests", retry=False)  # type: ignore[arg-type]
    runtime = SimpleNamespace(
        db=db,
        js=nc.jetstream(),
        outbox=Outbox(models.outbox),
        processed_table=models.processed_events,
        settings=SimpleNamespace(service_name="users"),
    )
    # The kit's own way of building a service's consumer, bound to this stand-in runtime.
    runtime.consumer = functools.partial(ServiceRuntime.consumer, runtime)
    yield follow_counts(cast(ServiceRuntime, runtime)), db
    await nc.close()
    await db.dispose()


async def _new_user(db: Database) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with db.unit_of_work() as session:
        username = f"redeliv{user_id.hex[:12]}"
        await session.execute(sa.insert(models.users).values(id=user_id, username=username))
    return user_id


async def _counts(db: Database, user_id: uuid.UUID) -> tuple[int, int]:
    async with db.unit_of_work() as session:
        query = sa.select(models.users.c.followers_count, models.users.c.following_count).where(
            models.users.c.id == user_id
        )
        row = (await session.execute(query)).one()
    return row.followers_count, row.following_count


def _follow_created(follower: uuid.UUID, followee: uuid.UUID, event_id: str, delivered: int) -> Delivery:
    follow = social_pb2.Follow(follower_id=str(follower), followee_id=str(followee))
    return Delivery(
        subject="codegram.social.follow.created",
        data=social_pb2.FollowCreated(follow=follow).SerializeToString(),
        headers={MSG_ID_HEADER: event_id},
        metadata=SimpleNamespace(num_delivered=delivered),
    )


async def test_a_redelivered_follow_event_counts_once(
    consumer: tuple[IdempotentConsumer, Database],
) -> None:
    follow_counts_consumer, db = consumer
    fan, star, other_fan = await _new_user(db), await _new_user(db), await _new_user(db)

    event_id = str(uuid.uuid4())
    first = _follow_created(fan, star, event_id, delivered=1)
    await follow_counts_consumer.deliver(cast(Msg, first))
    assert first.acks == ["ack"]
    assert await _counts(db, star) == (1, 0)
    assert await _counts(db, fan) == (0, 1)

    # The same event again (its ack was lost, say): acknowledged, and nothing moves.
    again = _follow_created(fan, star, event_id, delivered=2)
    await follow_counts_consumer.deliver(cast(Msg, again))
    assert again.acks == ["ack"]
    assert await _counts(db, star) == (1, 0)
    assert await _counts(db, fan) == (0, 1)

    # Another event for the same followee still counts: only the event id makes a duplicate.
    other = _follow_created(other_fan, star, str(uuid.uuid4()), delivered=1)
    await follow_counts_consumer.deliver(cast(Msg, other))
    assert await _counts(db, star) == (2, 0)
    assert await _counts(db, other_fan) == (0, 1)
