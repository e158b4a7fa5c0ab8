"""The events every content service publishes through its outbox: `codegram.<service>.<entity>.<verb>`
for created, updated (with the changed fields and the previous visibility) and deleted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class EventKind:
    """What a content service's events are called and carry: `facts` is the message of the item's
    facts (`SnippetFacts`), with its id in `<entity>_id` and the service's own fields `own_fields`."""

    subject_prefix: str
    entity: str
    facts: type[Message]
    own_fields: tuple[str, ...]
    created: type[Message]
    updated: type[Message]
    deleted: type[Message]

    def facts_of(self, item: ContentItem) -> Message:
        return self.facts(
            **{f"{self.entity}_id": str(item.id)},
            author_id=str(item.author_id),
            visibility=item.visibility,
            title=item.title,
            **{name: getattr(item, name) for name in self.own_fields},
            tags=list(item.tags),
            created_at=proto_timestamp(item.created_at),
            updated_at=proto_timestamp(item.updated_at),
        )


class ContentEvents(Generic[ItemT]):
    """`created`, `updated` and `deleted` messages carry the item's facts in the field `entity`
    (`snippet`, `doc`) and the time of the change; they are written in the caller's transaction."""

    def __init__(self, kind: EventKind, outbox: Outbox, session: AsyncSession) -> None:
        self.kind = kind
        self.outbox = outbox
        self.session = session

    async def _add(self, verb: str, message: Message) -> None:
        await self.outbox.add(self.session, f"{self.kind.subject_prefix}.{verb}", message)

    def _about(self, item: ItemT) -> dict[str, Message]:
        return {self.kind.entity: self.kind.facts_of(item), "occurred_at": proto_timestamp(datetime.now(UTC))}

    async def created(self, item: ItemT) -> None:
        await self._add("created", self.kind.created(**self._about(item)))

    async def updated(self, before: ItemT, after: ItemT, changed: Iterable[str]) -> None:
        message = self.kind.updated(
            **self._about(after), changed_fields=sorted(changed), previous_visibility=before.visibility
        )
        await self._add("updated", message)

    async def deleted(self, item: ItemT) -> None:
        await self._add("deleted", self.kind.deleted(**self._about(item)))
