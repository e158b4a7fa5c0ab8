"""The snippets service's internal gRPC API: proto <-> domain, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from grpc import aio

from codegram_clients.users import GrpcAuthorDirectory
from codegram_content.change_events import proto_timestamp
from codegram_content.use_cases import check_batch
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc
from codegram_snippets.domain import Snippet
from codegram_snippets.service import SnippetService


def to_proto(snippet: Snippet) -> snippets_pb2.Snippet:
    return snippets_pb2.Snippet(
        id=str(snippet.id),
        author_id=str(snippet.author_id),
        visibility=snippet.visibility,
        title=snippet.title,
        created_at=proto_timestamp(snippet.created_at),
    )


class SnippetsServicer(snippets_pb2_grpc.SnippetsServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def GetSnippets(self, request, context):  # type: ignore[no-untyped-def]
        check_batch(request.ids)
        authors = GrpcAuthorDirectory(self.runtime.channel(self.runtime.settings.users_grpc_target))
        async with self.runtime.db.unit_of_work() as session:
            found = await SnippetService(session, self.runtime.outbox, authors).get_many(list(request.ids))
        return snippets_pb2.GetSnippetsResponse(snippets=[to_proto(s) for s in found])


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    snippets_pb2_grpc.add_SnippetsServiceServicer_to_server(SnippetsServicer(runtime), server)
    return [snippets_pb2.DESCRIPTOR.services_by_name["SnippetsService"].full_name]
