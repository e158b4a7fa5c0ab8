"""No secret reaches a log line: access and refresh tokens, OAuth codes, GitHub tokens and
Authorization values stay out of every process's output, whatever a request does.

The test drives everything that handles a secret (GitHub sign-in, refresh, reuse, logout,
WebSocket handshakes with good, bad and expired tokens, a search whose upstream fails) through a
gateway logging at DEBUG, then reads every process's log for each secret it saw.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from codegram_devstack.fleet import RunningFleet
from codegram_devstack.tokens import TestSigningKey
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc

StartGateway = Callable[..., str]
REDIRECT = "http://localhost:3000/auth/callback"


class _Failing(BaseHTTPRequestHandler):
    """A content service that fails every request (the search fan-out logs the failure)."""

    def do_GET(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _sign_in(api: httpx.Client, login: str, secrets: set[str]) -> dict:
    started = api.get("/auth/github/authorize", params={"redirect_uri": REDIRECT})
    assert started.status_code == 200, started.text
    picked = httpx.get(f"{started.json()['authorize_url']}&{urlencode({'login': login})}")
    assert picked.status_code == 302, picked.text
    back = {k: v[0] for k, v in parse_qs(urlsplit(picked.headers["location"]).query).items()}
    secrets.add(back["code"])
    resp = api.post("/auth/github/callback", json={"code": back["code"], "state": back["state"]})
    assert resp.status_code == 200, resp.text
    signed = resp.json()
    secrets.update((signed["access_token"], signed["refresh_token"]))
    return signed


async def _github_token(fleet: RunningFleet, user_id: str) -> str:
    async with create_channel(fleet.grpc_target("auth")) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).GetGitHubToken(
            auth_pb2.GetGitHubTokenRequest(user_id=user_id)
        )
    return reply.access_token


async def _handshake(url: str, **kwargs: object) -> int | None:
    """The close code the handshake ends with, or None when the socket answers a ping."""
    async with connect(url, **kwargs) as ws:
        try:
            await ws.send('{"type": "ping"}')
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def _logs(fleet: RunningFleet, tmp_path: Path) -> dict[str, str]:
    logs = {name: fleet.log(name) for name in fleet.logs}
    logs.update({p.name: p.read_text(errors="replace") for p in tmp_path.glob("gateway-*.log")})
    return logs


async def test_no_secret_reaches_any_log(
    fleet: RunningFleet, start_gateway: StartGateway, failing_upstream: str, tmp_path: Path
) -> None:
    gw = start_gateway(LOG_LEVEL="DEBUG", SNIPPETS_HTTP_URL=failing_upstream)
    secrets: set[str] = set()
    with httpx.Client(base_url=gw + "/api/v1", timeout=15) as api:
        first = _sign_in(api, "octocat", secrets)
        second = _sign_in(api, "octocat", secrets)
        secrets.add(await _github_token(fleet, first["user"]["id"]))

        refreshed = api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        secrets.update((refreshed.json()["access_token"], refreshed.json()["refresh_token"]))
        reused = api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401  # reuse: the family is revoked

        bearer = {"Authorization": f"Bearer {second['access_token']}"}
        searched = api.get("/search", params={"q": "anything"}, headers=bearer)
        assert searched.status_code == 200 and searched.json()["unavailable"] == ["snippet"]

        ws = gw.replace("http", "ws", 1) + "/api/v1/ws"
        stranger = TestSigningKey.generate().mint(first["user"]["id"])
        expired = fleet.fleet.signing_key.mint(first["user"]["id"], ttl=-120)
        secrets.update((stranger, expired))
        assert await _handshake(f"{ws}?access_token={second['access_token']}") is None
        assert await _handshake(ws, additional_headers=bearer) is None
        assert await _handshake(f"{ws}?access_token={stranger}") == 4401
        assert await _handshake(f"{ws}?access_token={expired}") == 4401
        assert await _handshake(ws, additional_headers={"Authorization": f"Bearer {expired}"}) == 4401

        out = api.post("/auth/logout", json={"refresh_token": second["refresh_token"]}, headers=bearer)
        assert out.status_code == 204, out.text

    # The paths that used to leak did log (so the scan below reads real lines), then give the
    # processes a moment to flush their last lines.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = _logs(fleet, tmp_path)
        gateway_log = next(text for name, text in logs.items() if name.startswith("gateway-"))
        if "search source failed" in gateway_log and gateway_log.count('"WebSocket /api/v1/ws') >= 5:
            break
        await asyncio.sleep(0.2)
    assert "search source failed" in gateway_log
    assert gateway_log.count('"WebSocket /api/v1/ws') >= 5
    assert '"level": "DEBUG"' in gateway_log

    assert all(len(s) >= 16 for s in secrets), "every secret is distinctive enough to search for"
    leaks = {
        (name, secret[:12] + "...") for name, text in logs.items() for secret in secrets if secret in text
    }
    assert not leaks, f"secrets in logs: {sorted(leaks)}"
