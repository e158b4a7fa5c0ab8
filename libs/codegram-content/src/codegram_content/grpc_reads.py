"""The gRPC door every content service has: its one RPC answers the items of a batch of ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import SimpleNamespace
from typing import Any, Protocol

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from grpc import aio

from codegram_content.change_events import proto_timestamp
from codegram_content.items import ContentItem
from codegram_content.use_cases import check_batch
from codegram_kit.runtime.definition import ServiceRuntime


class BatchReader(Protocol):
    async def get_many(self, raw_ids: Sequence[str]) -> Sequence[ContentItem]: ...


def item_proto(
    message: type[Message],
    item: ContentItem,
    own_fields: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Message:
    """What other services read of an item (`Snippet`, `Doc`): who may see it, whose it is, and
    what a list shows of it; `own_fields` are the item's attributes its kind adds, `extra` values
    made for the reply (a snippet's code preview)."""
    return message(
        id=str(item.id),
        author_id=str(item.author_id),
        visibility=item.visibility,
        title=item.title,
        description=item.description,
        tags=list(item.tags),
        **{name: getattr(item, name) for name in own_fields},
        **(extra or {}),
        created_at=proto_timestamp(item.created_at),
        updated_at=proto_timestamp(item.updated_at),
    )


def batch_reads_registrar(
    *,
    service: ServiceDescriptor,
    add_servicer: Callable[[Any, aio.Server], None],
    open_service: Callable[[ServiceRuntime], AbstractAsyncContextManager[BatchReader]],
    reply: Callable[[Sequence[Any]], Message],
) -> Callable[[ServiceRuntime, aio.Server], Iterable[str]]:
    """Registers `service`, whose one method (`GetSnippets`) answers `reply(items)` for the ids of
    its request, whatever their visibility: callers enforce privacy with visibility and author."""
    (method,) = service.methods

    def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
        async def read(request: Any, context: aio.ServicerContext) -> Message:
            check_batch(request.ids)
            async with open_service(runtime) as content:
                return reply(await content.get_many(list(request.ids)))

        # The generated `add_..._to_server` looks the method up by name on the servicer.
        add_servicer(SimpleNamespace(**{method.name: read}), server)
        return [service.full_name]

    return register
