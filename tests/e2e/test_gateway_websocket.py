"""The real-time channel through the real gateway to the social service (API.md "GET /ws")."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from websockets.asyncio.client import connect
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
