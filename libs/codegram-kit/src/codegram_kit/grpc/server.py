"""The grpc.aio server: health, reflection, and the interceptor for request ids, traces, metrics, errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy.exc import InterfaceError, OperationalError

from codegram_kit.grpc.status import status_for
from codegram_kit.runtime.context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from codegram_kit.runtime.metrics import GRPC_LATENCY, GRPC_REQUESTS
from codegram_kit.runtime.tracing import extract
from codegram_kit.web.errors import DomainError

log = logging.getLogger("codegram.grpc")


class ServerInterceptor(aio.ServerInterceptor):
    """Request id and trace from metadata, metrics, a log line, and domain errors as status codes."""

    def __init__(self, service: str, default_deadline: float = 10.0) -> None:
        self.service = service
        self.default_deadline = default_deadline
        self.tracer = trace.get_tracer("codegram.grpc")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith("/grpc."):
            return handler
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        inner = handler.unary_unary
        service = self.service
        tracer = self.tracer
        default_deadline = self.default_deadline

        async def wrapped(request: Any, context: aio.ServicerContext) -> Any:
            rid_token = request_id_var.set(accept_request_id(metadata.get(REQUEST_ID_HEADER)))
            ctx_token = otel_context.attach(extract(metadata))
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                with tracer.start_as_current_span(method, kind=trace.SpanKind.SERVER):
                    # A caller that sent no deadline still gets one: no call holds resources forever.
                    remaining = context.time_remaining()
                    no_deadline = remaining is None or remaining > 86_400
                    budget = default_deadline if no_deadline else remaining
                    async with asyncio.timeout(budget):
                        return await inner(request, context)
            except TimeoutError:
                code = grpc.StatusCode.DEADLINE_EXCEEDED
                await context.abort(code, "deadline exceeded")
            except DomainError as exc:
                code = status_for(exc)
                await context.abort(code, exc.message)
            except aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
                raise
            except (OperationalError, InterfaceError) as exc:
                # The database refused or dropped the call: unavailable for a moment, as over HTTP
                # (callers answer 503 for UNAVAILABLE), not an internal error.
                code = grpc.StatusCode.UNAVAILABLE
                error = type(exc.orig).__name__
                log.warning("database unavailable", extra={"method": method, "error": error})
                await context.abort(code, "database unavailable")
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in gRPC method", extra={"method": method})
                await context.abort(code, "internal error")
            finally:
                elapsed = time.perf_counter() - start
                GRPC_REQUESTS.labels(service, method, code.name).inc()
                GRPC_LATENCY.labels(service, method).observe(elapsed)
                log.info(
                    "grpc",
                    extra={"method": method, "code": code.name, "duration_ms": round(elapsed * 1000, 2)},
                )
                otel_context.detach(ctx_token)
                request_id_var.reset(rid_token)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


Registrar = Callable[[aio.Server], Iterable[str]]


class GrpcServer:
    """A grpc.aio server with health and reflection that drains gracefully on stop."""

    def __init__(self, service: str, port: int, host: str = "0.0.0.0") -> None:
        self.service = service
        self.server = aio.server(interceptors=[ServerInterceptor(service)])
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.address = f"{host}:{port}"
        self.bound_port = self.server.add_insecure_port(self.address)
        self._service_names: list[str] = [health.SERVICE_NAME, reflection.SERVICE_NAME]

    def register(self, registrar: Registrar) -> None:
        """`registrar(server)` adds servicers and returns their full service names."""
        self._service_names.extend(registrar(self.server))

    async def start(self) -> None:
        reflection.enable_server_reflection(self._service_names, self.server)
        await self.server.start()
        for name in ["", *self._service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
