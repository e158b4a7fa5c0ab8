"""Log lines are JSON with the service, the request id and the trace id of the request they belong to."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace

from codegram_kit.context import request_id_var
from codegram_kit.logging import configure_logging
from codegram_kit.tracing import configure_tracing


def test_json_lines_carry_request_and_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_tracing("kit-tests", None)
    configure_logging("kit-tests", "INFO", "json")
    token = request_id_var.set("req-123")
    try:
        with trace.get_tracer("t").start_as_current_span("work") as span:
            logging.getLogger("codegram.test").info("something happened", extra={"items": 3})
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        request_id_var.reset(token)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "something happened"
    assert (line["service"], line["request_id"], line["trace_id"], line["items"]) == (
        "kit-tests",
        "req-123",
        trace_id,
        3,
    )
    assert line["level"] == "INFO"


def test_console_lines_show_a_dash_outside_requests(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("kit-tests", "INFO", "console")
    logging.getLogger("codegram.test").info("plain")
    assert "[-] plain" in capsys.readouterr().out
