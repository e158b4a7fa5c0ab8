"""Log lines are JSON with the service, the request id and the trace id of the request they belong to."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace

from codegram_kit.runtime.context import request_id_var
from codegram_kit.runtime.logging import REDACTED, configure_logging, redact
from codegram_kit.runtime.tracing import configure_tracing


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


JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsiLCJ0eXAiOiJhdCtqd3QifQ"
    ".eyJzdWIiOiJ1c2VyIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
GITHUB = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.mark.parametrize(
    "text",
    [
        f'127.0.0.1 - "WebSocket /api/v1/ws?access_token={JWT}" [accepted]',
        f"< authorization: Bearer {JWT}",
        f"RequestInfo(headers=<CIMultiDictProxy('Authorization': 'Bearer {JWT}', 'Accept': '*/*')>)",
        f'{{"headers": {{"authorization": "token {GITHUB}"}}}}',
        "GET /callback?state=abc&code=4f1c2b9a7e3d5c6b8a90 HTTP/1.1",
        "grant_type=refresh_token&refresh_token=Zm9vYmFyYmF6cXV4cXV1eA&client_secret=s3cr3tvalue",
        f"the token {GITHUB} was refused",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz in a message",
        'body {\\"refresh_token\\": \\"Zm9vYmFyYmF6cXV4cXV1eA\\"}',
    ],
)
def test_credentials_are_masked(text: str) -> None:
    masked = redact(text)
    assert REDACTED in masked
    for secret in (
        JWT,
        GITHUB,
        "4f1c2b9a7e3d5c6b8a90",
        "Zm9vYmFyYmF6cXV4cXV1eA",
        "s3cr3tvalue",
        "github_pat_11",
    ):
        assert secret not in masked, masked


@pytest.mark.parametrize(
    "text",
    [
        "request",
        "token required",
        "invalid refresh token",
        "status_code=500 error_code=NOT_FOUND",
        '{"code": "NOT_FOUND", "message": "no such user"}',
        "the github service answered 502",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_json_lines_stay_json_with_secrets_masked_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("kit-tests", "INFO", "json")
    log = logging.getLogger("codegram.test")
    try:
        raise ValueError(f"upstream said no to Authorization: Bearer {JWT}")
    except ValueError:
        log.exception(
            "failed for %s",
            f"/x?access_token={JWT}",
            extra={"error": f"headers={{'authorization': 'Bearer {JWT}'}}"},
        )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert JWT not in json.dumps(line)
    assert line["message"] == f"failed for /x?access_token={REDACTED}"
    assert REDACTED in line["error"] and REDACTED in line["exc_info"]


def test_uvicorn_websocket_lines_carry_no_query_string(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("kit-tests", "INFO", "json")
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', ("127.0.0.1", 5000), "/api/v1/ws?access_token=opaque-value-123"
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "('127.0.0.1', 5000) - \"WebSocket /api/v1/ws\" [accepted]"


def test_sql_errors_carry_no_parameters() -> None:
    from codegram_kit.db.engine import create_engine

    engine = create_engine("postgresql://nobody@127.0.0.1:1/none", "kit")
    assert engine.sync_engine.hide_parameters
