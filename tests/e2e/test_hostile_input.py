"""What a hostile client sends, through the real gateway and straight to the services: crafted
tokens are a 401, NUL bytes and out-of-range cursors a 400, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from codegram_devstack.fleet import RunningFleet
from codegram_devstack.hostile_tokens import hostile_tokens
from codegram_kit.grpc import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

_github_ids = itertools.count(7_000_000 + (uuid.uuid4().int % 1_000_000) * 1000)


async def _member(fleet: RunningFleet, login: str) -> tuple[users_pb2.User, str]:
    """A user of the users service and a valid access token for them."""
    async with create_channel(fleet.grpc_target("users")) as channel:
        reply = await users_pb2_grpc.UsersServiceStub(channel).UpsertGitHubUser(
            users_pb2.UpsertGitHubUserRequest(github_id=next(_github_ids), login=login)
        )
    return reply.user, fleet.fleet.signing_key.mint(reply.user.id)


def _unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


def _bearer(token: str) -> dict[str, bytes]:
    # Bytes, so that a token with non-ASCII characters goes on the wire as a client would send it.
    return {"Authorization": b"Bearer " + token.encode("utf-8")}


def _assert_error(resp: httpx.Response, status: int, code: str, context: str = "") -> None:
    assert resp.status_code == status, f"{context}: {resp.status_code} {resp.text}"
    body = resp.json()
    assert body["error"]["code"] == code, context
    assert body["request_id"] == resp.headers["x-request-id"], context


@contextmanager
def no_tracebacks(fleet: RunningFleet, *names: str) -> Iterator[None]:
    """Fails if any of these processes logs an unhandled error while the block runs."""
    offsets = {name: fleet.logs[name].stat().st_size for name in names}
    yield
    for name, offset in offsets.items():
        with fleet.logs[name].open("rb") as log:
            log.seek(offset)
            written = log.read().decode(errors="replace")
        assert "Traceback" not in written and "unhandled error" not in written, f"{name}:\n{written[-3000:]}"


# -- crafted tokens --------------------------------------------------------------------------------


async def test_crafted_tokens_are_401_at_the_gateway_and_at_a_service(fleet: RunningFleet) -> None:
    user, token = await _member(fleet, _unique("tokens"))
    hostile = hostile_tokens(fleet.fleet.signing_key)
    doors = {"gateway": fleet.gateway_url, "users": fleet.http_url("users")}
    with no_tracebacks(fleet, "gateway", "users"), httpx.Client(timeout=10) as client:
        for door, base in doors.items():
            me = client.get(base + "/api/v1/users/me", headers=_bearer(token))
            assert me.status_code == 200, f"{door}: {me.text}"
            assert me.json()["id"] == user.id
            for name, crafted in hostile.items():
                resp = client.get(base + "/api/v1/users/me", headers=_bearer(crafted))
                _assert_error(resp, 401, "UNAUTHORIZED", f"{door}, {name}")


# The WebSocket server reads the handshake in lines of at most 8 KiB and answers a longer one
# with HTTP 400 itself, before any code of ours runs.
_HANDSHAKE_LINE_LIMIT = 8192


async def _ws_refusal(url: str) -> str:
    """How the server refused: `close 4401`, or `HTTP 400` for a handshake it would not read."""
    try:
        async with connect(url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"
    assert closed.value.rcvd is not None
    return f"close {closed.value.rcvd.code}"


async def test_crafted_tokens_close_the_websocket_with_4401(fleet: RunningFleet) -> None:
    _, token = await _member(fleet, _unique("wstokens"))
    hostile = hostile_tokens(fleet.fleet.signing_key)
    doors = {
        "gateway": fleet.gateway_url.replace("http", "ws", 1),
        "social": fleet.http_url("social").replace("http", "ws", 1),
    }
    with no_tracebacks(fleet, "gateway", "social"):
        for door, base in doors.items():
            async with connect(f"{base}/api/v1/ws?access_token={token}") as ws:
                await ws.send('{"type": "ping"}')
                assert await asyncio.wait_for(ws.recv(), 5) == '{"type": "pong"}', door
            for name, crafted in hostile.items():
                url = f"{base}/api/v1/ws?access_token={quote(crafted, safe='')}"
                expected = "HTTP 400" if len(url) > _HANDSHAKE_LINE_LIMIT else "close 4401"
                assert await _ws_refusal(url) == expected, f"{door}, {name}"
