"""The events every content service publishes through its outbox: `codegram.<service>.<entity>.<verb>`
for created, updated (with the changed fields and the previous visibility) and deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_content.items import ContentItem
from codegram_kit.messaging.outbox import Outbox

ItemT = TypeVar("ItemT", bound=ContentItem)


def proto_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class ContentEvents(Generic[ItemT]):
    """`created`, `updated` and `deleted` messages carry the item's facts in the field `entity`
    (`snippet`, `doc`) and the time of the change; they are written in the caller's transaction."""

    def __init__(
        self,
        outbox: Outbox,
        session: AsyncSession,
        *,
        subject_prefix: str,
        entity: str,
        facts: Callable[[ItemT], Message],
        messages: tuple[type[Message], type[Message], type[Message]],
    ) -> None:
        self.outbox = outbox
        self.session = session
        self.subject_prefix = subject_prefix
        self.entity = entity
        self.facts = facts
        self.created_message, self.updated_message, self.deleted_message = messages

    async def _add(self, verb: str, message: Message) -> None:
        await self.outbox.add(self.session, f"{self.subject_prefix}.{verb}", message)

    async def created(self, item: ItemT) -> None:
        now = proto_timestamp(datetime.now(UTC))
        await self._add("created", self.created_message(**{self.entity: self.facts(item)}, occurred_at=now))

    async def updated(self, before: ItemT, after: ItemT, changed: Iterable[str]) -> None:
        message = self.updated_message(
            **{self.entity: self.facts(after)},
            changed_fields=sorted(changed),
            previous_visibility=before.visibility,
            occurred_at=proto_timestamp(datetime.now(UTC)),
        )
        await self._add("updated", message)

    async def deleted(self, item: ItemT) -> None:
        now = proto_timestamp(datetime.now(UTC))
        await self._add("deleted", self.deleted_message(**{self.entity: self.facts(item)}, occurred_at=now))
