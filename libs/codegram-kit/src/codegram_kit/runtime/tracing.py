"""OpenTelemetry: a tracer provider (OTLP export only when configured) and W3C context propagation."""

from __future__ import annotations

import random
from collections.abc import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

_configured = False
_exporting = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _configured, _exporting
    if _configured:
        return
    # With nowhere to export, spans still get ids (for logs and propagation) but are not
    # recorded: recording them would cost every request for nothing.
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"codegram-{service}"}),
        sampler=None if otlp_endpoint else ALWAYS_OFF,
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    _configured = True
    _exporting = bool(otlp_endpoint)


def exporting() -> bool:
    """Whether spans are recorded and exported (an OTLP endpoint is configured)."""
    return _exporting


def unrecorded_span(traceparent: str | None, tracestate: str | None = None) -> trace.Span:
    """The span the SDK makes when nothing exports (its sampler drops every span), made directly:
    fresh ids for logs and propagation, continuing the caller's trace when it sent one. A request
    path pays for this instead of the SDK's sampler and span machinery."""
    parent: trace.SpanContext | None = None
    if traceparent is not None:
        carrier = {"traceparent": traceparent}
        if tracestate is not None:
            carrier["tracestate"] = tracestate
        parent = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    if parent is not None and parent.is_valid:
        trace_id, state = parent.trace_id, parent.trace_state
    else:
        trace_id, state = random.getrandbits(128) or 1, None
    return trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id,
            random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
            trace_state=state,
        )
    )


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context (traceparent, tracestate) into headers or metadata.

    When nothing exports, the W3C fields are written directly from the current span (the
    propagators' generic path is a measurable share of a proxied request); the project sets no
    baggage, which is then not propagated."""
    if _exporting:
        propagate.inject(carrier)
        return carrier
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        carrier["traceparent"] = f"00-{span.trace_id:032x}-{span.span_id:016x}-{span.trace_flags:02x}"
        if span.trace_state:
            carrier["tracestate"] = span.trace_state.to_header()
    return carrier


def header_lines() -> list[tuple[bytes, bytes]]:
    """`inject` as raw header lines (name, value), for a request built as bytes (the gateway's
    upstream client): the same fields and values, without a mapping in between."""
    if _exporting:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in inject({}).items()]
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return []
    lines = [(b"traceparent", b"00-%032x-%016x-%02x" % (span.trace_id, span.span_id, span.trace_flags))]
    state = span.trace_state
    if state is not DEFAULT_TRACE_STATE and state:  # the default is empty (and its len() is Python)
        lines.append((b"tracestate", state.to_header().encode("latin-1")))
    return lines


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)
