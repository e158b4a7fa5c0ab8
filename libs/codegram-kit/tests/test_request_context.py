"""Every request gets an id, a trace context, its metrics and one JSON access line, and an unhandled
error is the 500 envelope carrying the request id."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from codegram_kit.runtime.logging import REDACTED, configure_logging
from codegram_kit.runtime.tracing import configure_tracing
from codegram_kit.web.app import create_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _client() -> TestClient:
    configure_tracing("ctx-tests", None)
    configure_logging("ctx-tests", "INFO", "json")
    app = create_app("ctx-tests", title="test")

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    return TestClient(app, raise_server_exceptions=False)


def _access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    for handler in logging.getLogger().handlers:
        handler.flush()  # lines written on the loop go out a turn later
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == "request"]


def test_the_access_line_carries_request_id_status_duration_and_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _client() as client:
        given = client.get("/items/7", headers={"X-Request-ID": "req-77", "traceparent": TRACEPARENT})
        fresh = client.get("/items/8")
    assert given.headers["x-request-id"] == "req-77"
    lines = _access_lines(capsys)
    assert [(line["path"], line["status"]) for line in lines] == [("/items/7", 200), ("/items/8", 200)]
    first, second = lines
    assert first["request_id"] == "req-77" and first["trace_id"] == TRACE_ID
    assert second["request_id"] == fresh.headers["x-request-id"] and len(second["request_id"]) == 32
    assert len(second["trace_id"]) == 32 and second["trace_id"] != TRACE_ID
    for line in lines:
        assert (line["level"], line["logger"], line["service"], line["method"]) == (
            "INFO",
            "codegram.http",
            "ctx-tests",
            "GET",
        )
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["time"][:2] == "20" and "," in line["time"]


def test_the_access_line_masks_a_credential_in_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    with _client() as client:
        assert client.get(f"/items/{jwt}").status_code == 200
    (line,) = _access_lines(capsys)
    assert jwt not in json.dumps(line) and line["path"] == f"/items/{REDACTED}"


def test_requests_are_counted_by_route_pattern_and_status() -> None:
    labels = {"service": "ctx-tests", "method": "GET", "route": "/items/{item_id}"}

    def count(status: str) -> float:
        return REGISTRY.get_sample_value("codegram_http_requests_total", {**labels, "status": status}) or 0.0

    def observed() -> float:
        return REGISTRY.get_sample_value("codegram_http_request_duration_seconds_sum", labels) or 0.0

    before, before_sum = count("200"), observed()
    with _client() as client:
        for n in range(3):
            client.get(f"/items/{n}")
    assert count("200") == before + 3
    assert observed() > before_sum


def test_an_unhandled_error_is_the_500_envelope_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _client() as client:
        resp = client.get("/broken", headers={"X-Request-ID": "req-500"})
    assert resp.status_code == 500
    assert resp.json() == {
        "error": {"code": "INTERNAL_SERVER_ERROR", "message": "internal server error", "details": []},
        "request_id": "req-500",
    }
    (line,) = _access_lines(capsys)
    assert (line["status"], line["request_id"]) == (500, "req-500")


def test_the_access_line_stays_json_whatever_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    with _client() as client:
        for raw in ("a%22b", "back%5Cslash", "%C3%A9t%C3%A9", "tab%09"):
            client.get(f"/items/{raw}")
    paths = [line["path"] for line in _access_lines(capsys)]
    assert paths == ['/items/a"b', "/items/back\\slash", "/items/été", "/items/tab\t"]


def test_a_credential_shaped_request_id_is_masked_in_the_access_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    with _client() as client:
        assert client.get("/items/1", headers={"X-Request-ID": jwt}).status_code == 200
    (line,) = _access_lines(capsys)
    assert jwt not in json.dumps(line) and line["request_id"] == REDACTED
