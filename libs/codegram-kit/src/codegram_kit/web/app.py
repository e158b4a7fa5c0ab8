"""The HTTP side of a process: app factory, health/readiness/metrics endpoints, request middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegram_kit.runtime.context import accept_request_id, request_id_var
from codegram_kit.runtime.logging import AccessLog
from codegram_kit.runtime.metrics import HTTP_METRICS
from codegram_kit.runtime.readiness import evaluate as evaluate_readiness
from codegram_kit.runtime.tracing import exporting, extract, unrecorded_span
from codegram_kit.web.errors import error_response, install_error_handlers
from codegram_kit.web.input_guard import NulGuardMiddleware
from codegram_kit.web.openapi import install_openapi

log = logging.getLogger("codegram.http")
_access = AccessLog(log)

ReadinessCheck = Callable[[], Awaitable[Any]]
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate", b"baggage": "baggage"}


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, trace span, metrics and one access-log line per request.

    Every request of every process passes here, so it reads the headers once, keeps its metrics'
    series, makes the span directly when nothing records spans (tracing.unrecorded_span)
    and writes the access line without a LogRecord (logging.AccessLog)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.tracer = trace.get_tracer("codegram.http")
        self._series: dict[tuple[str, str, int], list[float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given_id = None
        carrier: dict[str, str] = {}  # the trace context the caller sent
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given_id = value
            elif name in _TRACE_HEADERS:
                carrier[_TRACE_HEADERS[name]] = value.decode("latin-1")
        request_id = accept_request_id(given_id.decode("latin-1") if given_id is not None else None)
        token = request_id_var.set(request_id)
        request_id_header = (b"x-request-id", request_id.encode())
        method = scope["method"]
        recording = exporting()
        if recording:
            # start_span and attach rather than start_as_current_span: the same span for a third
            # of the cost.
            parent = extract(carrier)
            span = self.tracer.start_span(
                f"{method} {scope['path']}",
                context=parent,
                kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method},
            )
            ctx_token = otel_context.attach(trace.set_span_in_context(span, parent))
        else:
            span = unrecorded_span(carrier.get("traceparent"), carrier.get("tracestate"))
            ctx_token = otel_context.attach(trace.set_span_in_context(span))
        status = 500
        started = False

        # Not a coroutine itself: it hands back the server's, so that a send is one coroutine, not
        # two (every request sends twice).
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id_header]
            return send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Handled here, inside the request context, so the body carries the request id;
            # the details stay in the log and the client learns only that it failed.
            log.exception("unhandled error")
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR)
            if started:
                raise
            await error_response(500, "INTERNAL_SERVER_ERROR", "internal server error")(
                scope, receive, send_with_id
            )
        finally:
            if recording:
                span.set_attribute("http.response.status_code", status)
                span.end()
            elapsed = time.perf_counter() - start
            self._observe(scope, method, status, elapsed, span.get_span_context(), request_id)
            otel_context.detach(ctx_token)
            request_id_var.reset(token)

    def _observe(
        self,
        scope: Scope,
        method: str,
        status: int,
        elapsed: float,
        span: trace.SpanContext | None = None,
        request_id: str | None = None,
    ) -> None:
        route_label = getattr(scope.get("route"), "path", None) or "unmatched"
        key = (method, route_label, status)
        series = self._series.get(key)
        if series is None:
            # Bounded like the metrics themselves: methods, route patterns and statuses.
            series = self._series[key] = HTTP_METRICS.series(self.service, method, route_label, status)
        HTTP_METRICS.observe(series, elapsed)
        path = scope["path"]
        if path not in _QUIET_PATHS:
            _access.write(method, path, status, elapsed, span, request_id)


def add_operational_routes(app: FastAPI, readiness: dict[str, ReadinessCheck]) -> None:
    """`/healthz` (alive, no dependency consulted), `/readyz` (the dependencies it cannot serve
    without answer), `/metrics` (Prometheus text)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        # 503 only when a dependency the process cannot serve without is down; one it can do
        # without (codegram_kit.runtime.readiness.degradable) is reported as "degraded" with a 200.
        ready, body = await evaluate_readiness(readiness)
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class _ContextOutside(FastAPI):
    """A FastAPI app its caller runs inside a RequestContextMiddleware of its own (placed outermost,
    around layers that are not FastAPI's): that layer answers an unhandled error with the envelope
    and the request id, so Starlette's plain-text 500 layer is left out of the stack."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


def create_app(
    service: str,
    *,
    title: str,
    readiness: dict[str, ReadinessCheck] | None = None,
    lifespan: Any = None,
    version: str = "1.0.0",
    middleware: Sequence[Middleware] = (),
    openapi_url: str | None = "/openapi.json",
    request_context: bool = True,
) -> FastAPI:
    """A FastAPI app with the error envelope and operational routes. `middleware` runs inside the
    request context (so its responses carry the request id), the first listed outermost. With
    `request_context=False` the caller wraps the app in RequestContextMiddleware itself (the
    gateway does, outside its edge)."""
    app = (FastAPI if request_context else _ContextOutside)(
        title=title,
        version=version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi_url,
    )
    install_error_handlers(app)
    install_openapi(app)
    add_operational_routes(app, readiness if readiness is not None else {})
    # Innermost, so a caller's body limit runs before the guard reads a body whole.
    app.add_middleware(NulGuardMiddleware)
    for layer in reversed(middleware):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    if request_context:
        app.add_middleware(RequestContextMiddleware, service=service)
    return app
