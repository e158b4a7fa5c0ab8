"""What the proxy passes on and what it drops (RFC 9110 hop-by-hop fields, identity headers), and
the 504 of a service slower than its route's timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from codegram_devstack.engines import free_port
from codegram_gateway.app import create_app
from codegram_gateway.config import GatewaySettings
from codegram_kit.runtime.tracing import configure_tracing


class Backend:
    """Records each request it gets; sleeps `delay` seconds before answering."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.delay = 0.0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                backend.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                time.sleep(backend.delay)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Request-ID", "the-backend-would-like-this")
                self.send_header("Keep-Alive", "timeout=5")
                self.send_header("Proxy-Authenticate", "Basic")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.server.shutdown()


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    configure_tracing("gateway", None)  # as the gateway's main does
    settings = GatewaySettings(
        users_http_url=f"http://127.0.0.1:{backend.port}", upstream_timeout_seconds=0.5
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_request_id_and_trace_context_are_passed_on(client: TestClient, backend: Backend) -> None:
    resp = client.get("/api/v1/users/x", headers={"X-Request-ID": "req-42", "traceparent": TRACEPARENT})
    assert resp.headers["x-request-id"] == "req-42"  # the gateway's, not the backend's
    _, headers = backend.seen[-1]
    assert headers["x-request-id"] == "req-42"
    assert headers["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"

    client.get("/api/v1/users/x")
    _, headers = backend.seen[-1]
    assert len(headers["x-request-id"]) == 32 and len(headers["traceparent"].split("-")) == 4


def test_identity_forwarding_and_hop_by_hop_fields_are_dropped(client: TestClient, backend: Backend) -> None:
    resp = client.get(
        "/api/v1/users/x",
        headers={
            "X-User-Id": "someone-else",
            "X-Forwarded-For": "203.0.113.9",
            "Forwarded": "for=203.0.113.9",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "do not forward",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "TE": "trailers",
            "Accept": "application/json",
        },
    )
    assert resp.status_code == 200
    _, headers = backend.seen[-1]
    for name in ("x-user-id", "forwarded", "x-secret-hop", "proxy-authorization", "te"):
        assert name not in headers, name
    assert headers["x-forwarded-for"] != "203.0.113.9"  # the gateway's own view of the peer
    assert headers["accept"] == "application/json"
    assert "keep-alive" not in resp.headers and "proxy-authenticate" not in resp.headers


def test_the_path_reaches_the_service_as_the_client_encoded_it(client: TestClient, backend: Backend) -> None:
    client.get("/api/v1/users/caf%C3%A9?q=x%20y&q=z&e=%26")
    path, _ = backend.seen[-1]
    assert path == "/api/v1/users/caf%C3%A9?q=x%20y&q=z&e=%26"
    # Routing sees the decoded path, as the service will: an encoded slash is a slash.
    assert client.get("/api/v1/users/a%2Fb").status_code == 404
    assert len(backend.seen) == 1


def test_a_service_slower_than_the_timeout_is_504(client: TestClient, backend: Backend) -> None:
    backend.delay = 2.0
    began = time.perf_counter()
    resp = client.get("/api/v1/users/x")
    assert resp.status_code == 504 and resp.json()["error"]["code"] == "GATEWAY_TIMEOUT"
    assert time.perf_counter() - began < 1.5
