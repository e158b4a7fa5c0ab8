"""With the edge outermost (FastAPI only behind it, for the gateway's own routes), every request
still gets its request id, rate limit headers, metrics and one access line, and an unhandled error
on either side of the edge is the 500 envelope carrying the request id."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from codegram_devstack.engines import free_port
from codegram_gateway.app import Gateway, create_app
from codegram_gateway.config import GatewaySettings
from codegram_kit.runtime.logging import configure_logging
from codegram_kit.runtime.tracing import configure_tracing

BODY = b'{"username": "someone", "bio": "' + b"x" * 300 + b'"}'


class _Users(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cookies_seen: list[str | None] = []

    def do_GET(self) -> None:
        _Users.cookies_seen.append(self.headers.get("Cookie"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        if self.path.endswith("/sets-a-cookie"):
            self.send_header("Set-Cookie", "session=for-the-first-caller-only; Path=/")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, TestClient]]:
    configure_tracing("gateway", None)
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Users)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = create_app(GatewaySettings(users_http_url=f"http://127.0.0.1:{port}"))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield app, client
    finally:
        server.shutdown()


def _access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    for handler in logging.getLogger().handlers:
        handler.flush()  # lines written on the loop go out a turn later
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == "request"]


def _count(route: str, status: str) -> float:
    labels = {"service": "gateway", "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("codegram_http_requests_total", labels) or 0.0


def test_a_proxied_request_keeps_its_id_limits_metrics_and_access_line(
    gateway: tuple[Gateway, TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("gateway", "INFO", "json")  # onto the captured stdout
    _, client = gateway
    before = _count("/api/v1/users/{username}", "200")
    resp = client.get("/api/v1/users/someone", headers={"X-Request-ID": "req-proxied"})
    assert resp.status_code == 200 and resp.content == BODY
    # The service's length is passed on (no chunked re-framing) beside the gateway's own headers.
    assert resp.headers["content-length"] == str(len(BODY))
    assert resp.headers["x-request-id"] == "req-proxied"
    assert resp.headers["x-ratelimit-limit"] == "120" and "ratelimit" in resp.headers
    assert _count("/api/v1/users/{username}", "200") == before + 1
    (line,) = _access_lines(capsys)
    assert (line["request_id"], line["path"], line["status"], line["service"]) == (
        "req-proxied",
        "/api/v1/users/someone",
        200,
        "gateway",
    )
    assert line["duration_ms"] >= 0


def test_an_unhandled_error_in_the_edge_is_the_envelope_with_the_request_id(
    gateway: tuple[Gateway, TestClient], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("gateway", "INFO", "json")
    _, client = gateway
    assert client.get("/api/v1/users/someone").status_code == 200

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the proxy")

    monkeypatch.setattr("codegram_gateway.proxy.Upstreams.forward", broken)
    resp = client.get("/api/v1/users/someone", headers={"X-Request-ID": "req-edge-500"})
    assert resp.status_code == 500
    assert resp.json() == {
        "error": {"code": "INTERNAL_SERVER_ERROR", "message": "internal server error", "details": []},
        "request_id": "req-edge-500",
    }
    assert resp.headers["x-request-id"] == "req-edge-500"
    last = _access_lines(capsys)[-1]
    assert (last["status"], last["request_id"]) == (500, "req-edge-500")


def test_an_unhandled_error_in_an_own_route_is_the_envelope_with_the_request_id(
    gateway: tuple[Gateway, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = gateway
    assert client.get("/healthz").status_code == 200

    class Broken:
        async def search(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug in search")

    monkeypatch.setattr(app.state, "search", Broken())
    resp = client.get("/api/v1/search?q=x", headers={"X-Request-ID": "req-own-500"})
    assert resp.status_code == 500
    assert resp.json()["request_id"] == "req-own-500"
    assert resp.json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert resp.headers["x-request-id"] == "req-own-500"


def test_a_cookie_a_service_sets_reaches_its_caller_and_no_one_else() -> None:
    # Services are addressed by name in production (a cookie jar ignores cookies of bare IPs).
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Users)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with TestClient(create_app(GatewaySettings(users_http_url=f"http://localhost:{port}"))) as client:
            _check_cookie_isolation(client)
    finally:
        server.shutdown()


def _check_cookie_isolation(client: TestClient) -> None:
    first = client.get("/api/v1/users/sets-a-cookie")
    assert first.status_code == 200
    assert first.headers["set-cookie"] == "session=for-the-first-caller-only; Path=/"
    client.cookies.clear()  # another caller, without the first one's cookies
    _Users.cookies_seen.clear()
    assert client.get("/api/v1/users/someone").status_code == 200
    assert _Users.cookies_seen == [None]  # the gateway's own client kept nothing to replay
