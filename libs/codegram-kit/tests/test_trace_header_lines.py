"""The trace context as raw header lines is exactly what `inject` writes."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace

from codegram_kit.runtime.tracing import header_lines, inject, unrecorded_span


def _within(span: trace.Span) -> object:
    return otel_context.attach(trace.set_span_in_context(span))


def test_the_lines_are_injects_fields_as_bytes() -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for span in (unrecorded_span(None), unrecorded_span(caller, "vendor=one,other=two")):
        token = _within(span)
        try:
            expected = [(k.encode(), v.encode()) for k, v in inject({}).items()]
            assert expected and header_lines() == expected
        finally:
            otel_context.detach(token)
    token = _within(unrecorded_span(caller, "vendor=one"))
    try:
        assert dict(header_lines())[b"tracestate"] == b"vendor=one"
        assert dict(header_lines())[b"traceparent"].startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
    finally:
        otel_context.detach(token)


def test_no_current_span_no_lines() -> None:
    assert header_lines() == [] and inject({}) == {}
