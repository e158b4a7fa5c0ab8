"""Notifications in real time (API.md "GET /ws"): a follow, like or comment reaches every open
connection of the notified user within a second, whichever gateway and social replica each
connection landed on, and nobody else's.

A second social process runs beside the fleet's, with a second gateway that forwards to it only:
a connection through that gateway lives on the second replica, whichever replica's consumer
pushes the notification.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect

from codegram_devstack.e2e import Member, member
from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet, wait_ready

WITHIN = 1.0  # seconds from the request to every connection's push


def _start(spec_env: dict[str, str], command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=spec_env, stdout=out, stderr=subprocess.STDOUT)
    exited = lambda _name: None if proc.poll() is None else log.read_text()  # noqa: E731
    pending = wait_ready({"process": port}, 60, exited)
    assert not pending, log.read_text()[-3000:]
    return proc


@pytest.fixture(scope="module")
def second_gateway(fleet: RunningFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a gateway in front of a second social replica (same database and NATS)."""
    logs = tmp_path_factory.mktemp("second-replica")
    social = fleet.fleet.service_spec("social")
    social_port = free_port()
    social_env = {**social.env, "HTTP_PORT": str(social_port), "GRPC_PORT": str(free_port())}
    processes = [_start(social_env, social.command, social_port, logs / "social-2.log")]
    try:
        gateway = next(s for s in fleet.fleet.process_specs() if s.name == "gateway")
        gateway_port = free_port()
        gateway_env = {
            **gateway.env,
            "HTTP_PORT": str(gateway_port),
            "SOCIAL_HTTP_URL": f"http://127.0.0.1:{social_port}",
        }
        processes.append(_start(gateway_env, gateway.command, gateway_port, logs / "gateway-2.log"))
        yield f"http://127.0.0.1:{gateway_port}"
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
async def api(fleet: RunningFleet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


def _ws_url(gateway_url: str, who: Member) -> str:
    token = who.auth["Authorization"].removeprefix("Bearer ")
    return gateway_url.replace("http", "ws", 1) + f"/api/v1/ws?access_token={token}"


async def _open(gateway_url: str, who: Member) -> ClientConnection:
    """A socket piped all the way to the service (it answered a ping)."""
    ws = await connect(_ws_url(gateway_url, who))
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    return ws


async def _next_push(ws: ClientConnection, sent_at: float) -> tuple[dict[str, Any], float]:
    """The next push on a socket and how long after `sent_at` it came."""
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message, time.monotonic() - sent_at


async def _silent(sockets: list[ClientConnection], seconds: float = 0.5) -> None:
    async def nothing(ws: ClientConnection) -> None:
        with pytest.raises(TimeoutError):
            unexpected = await asyncio.wait_for(ws.recv(), seconds)
            raise AssertionError(f"an unexpected push: {unexpected}")

    await asyncio.gather(*(nothing(ws) for ws in sockets))


async def _until_ok(call: Any, attempts: int = 50) -> httpx.Response:
    """`call()` again until 2xx: social learns of new content from its events, within a second."""
    for _ in range(attempts):
        resp = await call()
        if resp.is_success:
            return resp
        await asyncio.sleep(0.1)
    raise AssertionError(resp.text)


async def test_follow_like_and_comment_reach_every_connection_on_two_replicas_and_nobody_else(
    fleet: RunningFleet, second_gateway: str, api: httpx.AsyncClient
) -> None:
    star, fan, bystander = await member(fleet, "star"), await member(fleet, "fan"), await member(fleet, "by")
    snippet = (
        await api.post("/snippets", headers=star.auth, json={"title": "Pushed", "code": "print(1)"})
    ).json()
    # The star holds a connection on each replica; the fan and a bystander hold theirs too.
    star_here, star_there = await _open(fleet.gateway_url, star), await _open(second_gateway, star)
    others = [
        await _open(fleet.gateway_url, fan),
        await _open(second_gateway, fan),
        await _open(fleet.gateway_url, bystander),
        await _open(second_gateway, bystander),
    ]
    sio = socketio.AsyncClient(reconnection=False)
    pushed: asyncio.Queue[Any] = asyncio.Queue()
    sio.on("notification", pushed.put)
    try:
        star_token = star.auth["Authorization"].removeprefix("Bearer ")
        await sio.connect(
            second_gateway, transports=["websocket"], auth={"token": star_token}, wait_timeout=5
        )

        # Liking and commenting need the snippet in social's content read model (from its events).
        await _until_ok(lambda: api.get(f"/snippets/{snippet['id']}/comments", headers=fan.auth))

        actions = {
            "follow": lambda: api.put(f"/users/{star.username}/follow", headers=fan.auth),
            "like": lambda: api.put(f"/snippets/{snippet['id']}/like", headers=fan.auth),
            "comment": lambda: api.post(
                f"/snippets/{snippet['id']}/comments", headers=fan.auth, json={"body": "Nice one"}
            ),
        }
        for kind, act in actions.items():
            sent_at = time.monotonic()
            resp = await act()
            assert resp.is_success, resp.text
            received = await asyncio.gather(_next_push(star_here, sent_at), _next_push(star_there, sent_at))
            for message, after in received:
                assert message["type"] == "notification", message
                note = message["data"]
                assert note["type"] == kind and note["actor"]["id"] == fan.id and note["read"] is False
                if kind != "follow":
                    assert note["subject"]["id"] == snippet["id"]
                assert after <= WITHIN, (kind, after)
            assert received[0][0] == received[1][0]  # the same notification, as the list shows it
            listed = (await api.get("/notifications", headers=star.auth, params={"limit": 1})).json()
            assert listed["data"][0] == received[0][0]["data"]
            via_socketio = await asyncio.wait_for(pushed.get(), 5)
            assert via_socketio == received[0][0]["data"]
        # Nobody else heard any of it: not the one who acted, not a bystander.
        await _silent(others)
    finally:
        await sio.disconnect()
        for ws in [star_here, star_there, *others]:
            await ws.close()
