"""The snippets service's internal gRPC API: proto <-> domain, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from codegram_kit.authors import GrpcAuthorDirectory
from codegram_kit.errors import ValidationFailed
from codegram_kit.service import ServiceRuntime
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc
from codegram_snippets.domain import Snippet
from codegram_snippets.service import SnippetService

MAX_BATCH = 500


def to_proto(snippet: Snippet) -> snippets_pb2.Snippet:
    created = Timestamp()
    created.FromDatetime(snippet.created_at)
    return snippets_pb2.Snippet(
        id=str(snippet.id),
        author_id=str(snippet.author_id),
        visibility=snippet.visibility,
        title=snippet.title,
        created_at=created,
    )


class SnippetsServicer(snippets_pb2_grpc.SnippetsServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def GetSnippets(self, request, context):  # type: ignore[no-untyped-def]
        if len(request.ids) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} ids per call")
        authors = GrpcAuthorDirectory(self.runtime.channel(self.runtime.settings.users_grpc_target))
        async with self.runtime.db.unit_of_work() as session:
            found = await SnippetService(session, self.runtime.outbox, authors).get_many(list(request.ids))
        return snippets_pb2.GetSnippetsResponse(snippets=[to_proto(s) for s in found])


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    snippets_pb2_grpc.add_SnippetsServiceServicer_to_server(SnippetsServicer(runtime), server)
    return [snippets_pb2.DESCRIPTOR.services_by_name["SnippetsService"].full_name]
