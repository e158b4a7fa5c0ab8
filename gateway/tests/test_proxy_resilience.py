"""A dead service answers 503 at once through the real proxy, and the gateway recovers by itself."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi.testclient import TestClient

from codegram_devstack.engines import free_port
from codegram_gateway.app import create_app
from codegram_gateway.config import GatewaySettings


class _Users(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"username": "back"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_dead_service_gives_fast_503_then_recovers() -> None:
    port = free_port()
    settings = GatewaySettings(
        users_http_url=f"http://127.0.0.1:{port}", circuit_failure_threshold=2, circuit_open_seconds=0.5
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            resp = client.get("/api/v1/users/someone")
            assert resp.status_code == 503 and resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert int(resp.headers["retry-after"]) >= 1
        began = time.perf_counter()
        open_reply = client.get("/api/v1/users/someone")
        assert open_reply.status_code == 503
        assert time.perf_counter() - began < 0.1  # the breaker answers without trying

        server = ThreadingHTTPServer(("127.0.0.1", port), _Users)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            time.sleep(0.6)
            recovered = client.get("/api/v1/users/someone")
            assert recovered.status_code == 200 and recovered.json() == {"username": "back"}
            assert client.get("/api/v1/users/someone").status_code == 200
        finally:
            server.shutdown()
