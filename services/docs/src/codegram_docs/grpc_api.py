"""The docs service's internal gRPC API: proto <-> domain, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from grpc import aio

from codegram_clients.users import GrpcAuthorDirectory
from codegram_content.change_events import proto_timestamp
from codegram_content.use_cases import check_batch
from codegram_docs.domain import Doc
from codegram_docs.service import DocService
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc


def to_proto(doc: Doc) -> docs_pb2.Doc:
    return docs_pb2.Doc(
        id=str(doc.id),
        author_id=str(doc.author_id),
        visibility=doc.visibility,
        title=doc.title,
        slug=doc.slug,
        created_at=proto_timestamp(doc.created_at),
    )


class DocsServicer(docs_pb2_grpc.DocsServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def GetDocs(self, request, context):  # type: ignore[no-untyped-def]
        check_batch(request.ids)
        authors = GrpcAuthorDirectory(self.runtime.channel(self.runtime.settings.users_grpc_target))
        async with self.runtime.db.unit_of_work() as session:
            found = await DocService(session, self.runtime.outbox, authors).get_many(list(request.ids))
        return docs_pb2.GetDocsResponse(docs=[to_proto(d) for d in found])


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    docs_pb2_grpc.add_DocsServiceServicer_to_server(DocsServicer(runtime), server)
    return [docs_pb2.DESCRIPTOR.services_by_name["DocsService"].full_name]
