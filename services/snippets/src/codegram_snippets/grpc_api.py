"""The snippets service's internal gRPC API: snippets by id, over the same use cases as HTTP."""

from __future__ import annotations

from collections.abc import Sequence

from codegram_content.grpc_reads import batch_reads_registrar, item_proto
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc
from codegram_snippets.domain import Snippet, code_preview
from codegram_snippets.service import snippet_service


def _reply(found: Sequence[Snippet]) -> snippets_pb2.GetSnippetsResponse:
    return snippets_pb2.GetSnippetsResponse(
        snippets=[
            item_proto(snippets_pb2.Snippet, s, ("language",), {"code_preview": code_preview(s.code)})
            for s in found
        ]
    )


register = batch_reads_registrar(
    service=snippets_pb2.DESCRIPTOR.services_by_name["SnippetsService"],
    add_servicer=snippets_pb2_grpc.add_SnippetsServiceServicer_to_server,
    open_service=snippet_service,
    reply=_reply,
)
