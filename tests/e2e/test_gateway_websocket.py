"""The real-time channel through the real gateway to the social service (API.md "GET /ws")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import nats
import pytest
from nats.aio.msg import Msg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet, wait_ready
from codegram_proto.codegram.events.v1 import auth_pb2 as auth_events
from codegram_social.realtime import PUSH_SUBJECT


def _ws_url(fleet: RunningFleet, query: str = "") -> str:
    return fleet.gateway_url.replace("http", "ws", 1) + "/api/v1/ws" + query


async def _closed_code(url: str, **kwargs: object) -> int:
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_a_push_reaches_the_user_and_frames_flow_both_ways(fleet: RunningFleet) -> None:
    token = fleet.fleet.signing_key.mint("ws-alice")
    nc = await nats.connect(fleet.fleet.nats_url)
    try:
        async with (
            connect(_ws_url(fleet, f"?access_token={token}")) as browser,
            connect(_ws_url(fleet), additional_headers={"Authorization": f"Bearer {token}"}) as second,
            connect(_ws_url(fleet, f"?access_token={fleet.fleet.signing_key.mint('ws-bob')}")) as other,
        ):
            await browser.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(browser.recv(), 5)) == {"type": "pong"}
            await second.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(second.recv(), 5)) == {"type": "pong"}  # both subscribed

            note = {"type": "notification", "data": {"id": "n1", "type": "follow", "read": False}}
            await nc.publish(PUSH_SUBJECT.format(user_id="ws-alice"), json.dumps(note).encode())
            assert json.loads(await asyncio.wait_for(browser.recv(), 1)) == note
            assert json.loads(await asyncio.wait_for(second.recv(), 1)) == note
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(other.recv(), 0.5)  # nobody else hears it

            await browser.send("not json")
            assert json.loads(await asyncio.wait_for(browser.recv(), 5))["type"] == "error"
    finally:
        await nc.close()


def _open_connections(fleet: RunningFleet) -> float:
    import httpx

    metrics = httpx.get(fleet.http_url("social") + "/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("codegram_social_websocket_connections "))
    return float(line.split()[1])


async def test_closing_the_client_closes_the_service_side_too(fleet: RunningFleet) -> None:
    before = _open_connections(fleet)
    token = fleet.fleet.signing_key.mint("ws-closer")
    async with connect(_ws_url(fleet, f"?access_token={token}")) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        await asyncio.wait_for(ws.recv(), 5)
        assert _open_connections(fleet) == before + 1
    for _ in range(50):
        if _open_connections(fleet) == before:
            break
        await asyncio.sleep(0.1)
    assert _open_connections(fleet) == before


async def test_bad_tokens_are_refused_with_4401(fleet: RunningFleet) -> None:
    key = fleet.fleet.signing_key
    assert await _closed_code(_ws_url(fleet)) == 4401
    assert await _closed_code(_ws_url(fleet, "?access_token=garbage")) == 4401
    assert await _closed_code(_ws_url(fleet, f"?access_token={key.mint('x', ttl=-120)}")) == 4401
    assert await _closed_code(_ws_url(fleet, f"?access_token={key.mint('x', audience='other')}")) == 4401
    headers = {"Authorization": "Bearer not-a-token"}
    assert await _closed_code(_ws_url(fleet), additional_headers=headers) == 4401


async def test_plain_http_to_the_websocket_endpoint_is_told_to_upgrade(fleet: RunningFleet) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{fleet.gateway_url}/api/v1/ws")
    assert resp.status_code == 426 and resp.json()["error"]["code"] == "UPGRADE_REQUIRED"


async def _open(url: str) -> ClientConnection:
    """A socket that answered a ping (so it is piped all the way to the service)."""
    ws = await connect(url)
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    return ws


async def test_open_sockets_do_not_starve_http_forwarding(fleet: RunningFleet, start_gateway) -> None:
    # A pool of two upstream connections: four sockets held open would take every slot if
    # sockets shared it with requests.
    gw = start_gateway(UPSTREAM_MAX_CONNECTIONS="2")
    url = gw.replace("http", "ws", 1) + f"/api/v1/ws?access_token={fleet.fleet.signing_key.mint('ws-hog')}"
    sockets = [await _open(url) for _ in range(4)]
    try:
        async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
            for _ in range(5):
                started = time.monotonic()
                resp = await client.get("/api/v1/users", params={"limit": 1})
                assert resp.status_code == 200, resp.text
                assert time.monotonic() - started < 1.5
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_user_holds_at_most_the_cap_of_open_sockets(fleet: RunningFleet, start_gateway) -> None:
    gw = start_gateway(WEBSOCKET_MAX_PER_USER="3").replace("http", "ws", 1) + "/api/v1/ws?access_token="
    key = fleet.fleet.signing_key
    first = [await _open(gw + key.mint("ws-capped")) for _ in range(3)]
    try:
        # Another token of the same user counts against the same cap; another user does not.
        assert await _closed_code(gw + key.mint("ws-capped")) == 4429
        other = await _open(gw + key.mint("ws-uncapped"))
        await other.close()
        # A closed socket gives its place back (once the gateway has seen it close).
        await first.pop().close()
        for _ in range(50):
            try:
                first.append(await _open(gw + key.mint("ws-capped")))
                break
            except ConnectionClosed:
                await asyncio.sleep(0.1)
        assert len(first) == 3
    finally:
        for ws in first:
            await ws.close()


async def _close_of(ws: ClientConnection, within: float) -> tuple[int, str]:
    """The code and reason the socket is closed with, waiting at most `within` seconds."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), within)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_socket_is_closed_with_4401_when_its_token_expires(fleet: RunningFleet) -> None:
    key = fleet.fleet.signing_key
    lasting = await _open(_ws_url(fleet, f"?access_token={key.mint('ws-expiring')}"))
    expiring = await _open(_ws_url(fleet, f"?access_token={key.mint('ws-expiring', ttl=3)}"))
    try:
        started = time.monotonic()
        assert await _close_of(expiring, 10) == (4401, "token expired")
        assert 1 < time.monotonic() - started < 8
        await lasting.send(json.dumps({"type": "ping"}))  # the user's other token still holds
        assert json.loads(await asyncio.wait_for(lasting.recv(), 5)) == {"type": "pong"}
    finally:
        await lasting.close()


def _sign_in(gateway_url: str, login: str) -> dict:
    from tests.e2e.test_auth import sign_in

    with httpx.Client(base_url=gateway_url + "/api/v1", timeout=15) as api:
        return sign_in(api, login)


async def test_logout_closes_the_sockets_of_that_session_only(fleet: RunningFleet, subscribe) -> None:
    revocations = await subscribe("codegram.auth.session.revoked")
    ended, kept = _sign_in(fleet.gateway_url, "linus-dev"), _sign_in(fleet.gateway_url, "linus-dev")
    assert ended["user"]["id"] == kept["user"]["id"]
    ended_sid = jwt.decode(ended["access_token"], options={"verify_signature": False})["sid"]
    kept_sid = jwt.decode(kept["access_token"], options={"verify_signature": False})["sid"]
    assert ended_sid != kept_sid
    closing = await _open(_ws_url(fleet, f"?access_token={ended['access_token']}"))
    staying = await _open(_ws_url(fleet, f"?access_token={kept['access_token']}"))
    try:
        async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1") as api:
            # Logged out with the other session's access token: the refresh token names the session.
            resp = await api.post(
                "/auth/logout",
                json={"refresh_token": ended["refresh_token"]},
                headers={"Authorization": f"Bearer {kept['access_token']}"},
            )
        assert resp.status_code == 204, resp.text
        started = time.monotonic()
        assert await _close_of(closing, 5) == (4401, "session ended")
        assert time.monotonic() - started < 5

        await staying.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(staying.recv(), 5)) == {"type": "pong"}
    finally:
        await staying.close()

    found = [_revocation(m) for m in await revocations(lambda m: _revocation(m).session_id == ended_sid)]
    assert [(e.user_id, e.reason) for e in found] == [(ended["user"]["id"], "logout")]


def _revocation(msg: Msg) -> auth_events.SessionRevoked:
    event = auth_events.SessionRevoked()
    event.ParseFromString(msg.data)
    return event


async def test_a_reused_refresh_token_ends_its_session_and_its_sockets(fleet: RunningFleet) -> None:
    signed = _sign_in(fleet.gateway_url, "hubot")
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1") as api:
        rotated = await api.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
        # The new access token belongs to the same session as the first.
        claims = [
            jwt.decode(t, options={"verify_signature": False})
            for t in (signed["access_token"], rotated.json()["access_token"])
        ]
        assert claims[0]["sid"] == claims[1]["sid"]
        ws = await _open(_ws_url(fleet, f"?access_token={rotated.json()['access_token']}"))
        reused = await api.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]})
        assert reused.status_code == 401
    assert await _close_of(ws, 5) == (4401, "session ended")


class _NatsLink:
    """A TCP relay between one process and NATS that the test can cut: that process loses NATS
    while the rest of the fleet keeps it."""

    def __init__(self, nats_url: str) -> None:
        self.target = urlsplit(nats_url)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target.hostname, self.target.port)
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()  # reconnecting finds nobody listening
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def social_behind_a_link(fleet: RunningFleet, tmp_path: Path) -> AsyncIterator[tuple[str, _NatsLink]]:
    """One more social process, reaching NATS only through a link the test can cut."""
    link = _NatsLink(fleet.fleet.nats_url)
    spec = fleet.fleet.service_spec("social")
    port = free_port()
    env = {**spec.env, "HTTP_PORT": str(port), "GRPC_PORT": str(free_port()), "NATS_URL": await link.start()}
    log = tmp_path / f"social-{port}.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*spec.command, env=env, stdout=out, stderr=out)
    try:
        exited = lambda _name: None if proc.returncode is None else log.read_text()  # noqa: E731
        assert not await asyncio.to_thread(wait_ready, {"social": port}, 30, exited), log.read_text()
        yield f"http://127.0.0.1:{port}", link
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
        await link.cut()


async def _handshake(url: str) -> tuple[int, str] | None:
    """None when the socket answers a ping, else the code and reason it was closed with."""
    async with connect(url) as ws:
        try:
            await ws.send(json.dumps({"type": "ping"}))
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
    return None


async def test_without_nats_a_handshake_is_told_to_try_again_later(
    fleet: RunningFleet, start_gateway, social_behind_a_link: tuple[str, _NatsLink]
) -> None:
    social_url, link = social_behind_a_link
    gw = await asyncio.to_thread(start_gateway, SOCIAL_HTTP_URL=social_url)
    url = (
        gw.replace("http", "ws", 1) + f"/api/v1/ws?access_token={fleet.fleet.signing_key.mint('ws-no-nats')}"
    )
    assert await _handshake(url) is None  # with NATS, the same handshake succeeds

    await link.cut()
    outcome = None
    for _ in range(50):  # until the service has noticed
        outcome = await _handshake(url)
        if outcome is not None:
            break
        await asyncio.sleep(0.1)
    assert outcome == (1013, "try again later")
