"""The gRPC client channel: a default deadline, the request id and the trace context on every call."""

from __future__ import annotations

from grpc import aio

from codegram_kit.runtime.context import REQUEST_ID_HEADER, current_request_id
from codegram_kit.runtime.tracing import inject


class ClientInterceptor(aio.UnaryUnaryClientInterceptor):
    """Every call gets a deadline, the request id and the trace context."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        metadata = list(client_call_details.metadata or [])
        rid = current_request_id()
        if rid:
            metadata.append((REQUEST_ID_HEADER, rid))
        carrier: dict[str, str] = {}
        inject(carrier)
        metadata.extend(carrier.items())
        details = aio.ClientCallDetails(
            method=client_call_details.method,
            timeout=client_call_details.timeout or self.default_timeout,
            metadata=aio.Metadata(*metadata),
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def create_channel(target: str, default_timeout: float = 5.0) -> aio.Channel:
    return aio.insecure_channel(
        target,
        interceptors=[ClientInterceptor(default_timeout)],
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.enable_retries", 1),
        ],
    )
