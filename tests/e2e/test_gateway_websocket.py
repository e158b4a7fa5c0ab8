"""The real-time channel through the real gateway to the social service (API.md "GET /ws")."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import nats
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codegram_devstack.fleet import RunningFleet
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
