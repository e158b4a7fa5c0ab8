"""The docs service's internal gRPC API: docs by id, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Sequence

from codegram_content.grpc_reads import batch_reads_registrar, item_proto
from codegram_docs.domain import Doc
from codegram_docs.service import doc_service
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc


def _reply(found: Sequence[Doc]) -> docs_pb2.GetDocsResponse:
    return docs_pb2.GetDocsResponse(docs=[item_proto(docs_pb2.Doc, d, own_fields=("slug",)) for d in found])


register = batch_reads_registrar(
    service=docs_pb2.DESCRIPTOR.services_by_name["DocsService"],
    add_servicer=docs_pb2_grpc.add_DocsServiceServicer_to_server,
    open_service=doc_service,
    reply=_reply,
)
