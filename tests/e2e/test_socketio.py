"""Socket.IO v5 at `/socket.io/` through the real gateway, with the stock python-socketio client:
the token in the connect packet, the user's `notification` events, refusals as connect errors,
WebSocket transport only, and clients let go when their token or session ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from codegram_devstack import engines
from codegram_devstack.e2e import Member, member
from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet


class Client:
    """A stock client that records what it hears."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.notifications: asyncio.Queue[Any] = asyncio.Queue()
        self.refusals: list[Any] = []
        self.disconnected = asyncio.Event()
        self.sio.on("notification", self.notifications.put)
        self.sio.on("connect_error", self._refused)
        self.sio.on("disconnect", self._disconnected)

    async def _refused(self, data: Any) -> None:
        self.refusals.append(data)

    async def _disconnected(self, *_reason: Any) -> None:
        self.disconnected.set()

    async def connect(self, url: str, auth: Any, **options: Any) -> None:
        options.setdefault("transports", ["websocket"])
        await self.sio.connect(url, auth=auth, wait_timeout=5, **options)

    async def refusal(self, url: str, auth: Any, **options: Any) -> Any:
        """The connect error the server answered `auth` with."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect(url, auth, **options)
        assert not self.sio.connected
        return self.refusals[-1] if self.refusals else None


@pytest.fixture
async def api(fleet: RunningFleet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


def _token(who: Member) -> str:
    return who.auth["Authorization"].removeprefix("Bearer ")


async def test_the_stock_client_connects_with_its_token_and_hears_its_notifications(
    fleet: RunningFleet, api: httpx.AsyncClient
) -> None:
    star, fan, bystander = await member(fleet, "star"), await member(fleet, "fan"), await member(fleet, "by")
    stars, bystanders = [Client(), Client()], [Client()]
    for client in stars:
        await client.connect(fleet.gateway_url, {"token": _token(star)})
    await bystanders[0].connect(fleet.gateway_url, {"token": _token(bystander)})
    try:
        sent_at = time.monotonic()
        assert (await api.put(f"/users/{star.username}/follow", headers=fan.auth)).status_code == 204
        heard = [await asyncio.wait_for(client.notifications.get(), 5) for client in stars]
        assert time.monotonic() - sent_at <= 1.0
        assert heard[0] == heard[1]
        assert heard[0]["type"] == "follow" and heard[0]["actor"]["id"] == fan.id
        listed = (await api.get("/notifications", headers=star.auth, params={"limit": 1})).json()
        assert listed["data"][0] == heard[0]
        with pytest.raises(TimeoutError):
            unexpected = await asyncio.wait_for(bystanders[0].notifications.get(), 0.5)
            raise AssertionError(f"a bystander heard {unexpected}")
    finally:
        for client in stars + bystanders:
            await client.sio.disconnect()


async def test_bad_expired_and_missing_tokens_are_refused_with_a_connect_error(fleet: RunningFleet) -> None:
    key = fleet.fleet.signing_key
    good = Client()
    await good.connect(fleet.gateway_url, {"token": key.mint("sio-someone")})
    assert good.sio.connected and not good.refusals
    await good.sio.disconnect()

    refusals = {
        "garbage": {"token": "garbage"},
        "expired": {"token": key.mint("sio-someone", ttl=-120)},
        "another audience": {"token": key.mint("sio-someone", audience="other")},
        "no token": {},
        "not an object": None,
    }
    for why, auth in refusals.items():
        refusal = await Client().refusal(fleet.gateway_url, auth)
        assert isinstance(refusal, dict) and refusal.get("message"), (why, refusal)
    assert (await Client().refusal(fleet.gateway_url, {}))["message"] == "token required"


async def test_one_user_holds_at_most_the_cap_of_clients(fleet: RunningFleet) -> None:
    # SOCKET_IO_MAX_PER_USER (10) per social replica: the gateway cannot count these, since the
    # token comes after its handshake.
    key = fleet.fleet.signing_key
    token = key.mint("sio-greedy")
    held = [Client() for _ in range(10)]
    for client in held:
        await client.connect(fleet.gateway_url, {"token": token})
        assert client.sio.connected
    try:
        refusal = await Client().refusal(fleet.gateway_url, {"token": key.mint("sio-greedy")})
        assert refusal == {"message": "too many open connections"}
        other = Client()
        await other.connect(fleet.gateway_url, {"token": key.mint("sio-modest")})  # others are not held up
        assert other.sio.connected
        await other.sio.disconnect()

        await held[0].sio.disconnect()
        for _ in range(50):  # the server hears the disconnect a moment later
            again = Client()
            try:
                await again.connect(fleet.gateway_url, {"token": token})
                break
            except socketio.exceptions.ConnectionError:
                await asyncio.sleep(0.1)
        assert again.sio.connected  # a slot given back is taken again
        held[0] = again
    finally:
        for client in held:
            await client.sio.disconnect()


async def test_connects_at_once_cannot_pass_the_cap_together(fleet: RunningFleet) -> None:
    # Each connect takes its slot before it waits on anything, so twelve at once let in ten.
    token = fleet.fleet.signing_key.mint("sio-rush")
    clients = [Client() for _ in range(12)]
    outcomes = await asyncio.gather(
        *(client.connect(fleet.gateway_url, {"token": token}) for client in clients), return_exceptions=True
    )
    try:
        assert sum(client.sio.connected for client in clients) == 10
        refused = [c for c, outcome in zip(clients, outcomes, strict=True) if outcome is not None]
        assert len(refused) == 2
        assert all(isinstance(o, socketio.exceptions.ConnectionError) for o in outcomes if o is not None)
        assert [c.refusals for c in refused] == [[{"message": "too many open connections"}]] * 2
    finally:
        for client in clients:
            await client.sio.disconnect()


async def test_long_polling_is_refused_cleanly(fleet: RunningFleet) -> None:
    # The stock client's default starts with long-polling: refused (426), it does not connect.
    # Now and then it reports the refusal as aiohttp's "Connection closed." instead of its own
    # ConnectionError (it lets go of its HTTP session while reading the answer).
    client = Client()
    with pytest.raises((socketio.exceptions.ConnectionError, RuntimeError)):
        await client.connect(
            fleet.gateway_url, {"token": fleet.fleet.signing_key.mint("sio-poller")}, transports=None
        )
    assert not client.sio.connected
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{fleet.gateway_url}/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert resp.status_code == 426 and resp.json()["error"]["code"] == "UPGRADE_REQUIRED"


async def test_a_client_is_let_go_when_its_token_expires(fleet: RunningFleet) -> None:
    key = fleet.fleet.signing_key
    lasting, expiring = Client(), Client()
    await lasting.connect(fleet.gateway_url, {"token": key.mint("sio-expiring")})
    await expiring.connect(fleet.gateway_url, {"token": key.mint("sio-expiring", ttl=3)})
    try:
        started = time.monotonic()
        await asyncio.wait_for(expiring.disconnected.wait(), 10)
        assert 1 < time.monotonic() - started < 8
        assert lasting.sio.connected and not lasting.disconnected.is_set()
    finally:
        await lasting.sio.disconnect()


async def test_logout_lets_go_of_the_clients_of_that_session_only(fleet: RunningFleet) -> None:
    from tests.e2e.test_auth import sign_in

    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as http:
        ended, kept = sign_in(http, "linus-dev"), sign_in(http, "linus-dev")
    closing, staying = Client(), Client()
    await closing.connect(fleet.gateway_url, {"token": ended["access_token"]})
    await staying.connect(fleet.gateway_url, {"token": kept["access_token"]})
    try:
        async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1") as http:
            resp = await http.post(
                "/auth/logout",
                json={"refresh_token": ended["refresh_token"]},
                headers={"Authorization": f"Bearer {kept['access_token']}"},
            )
        assert resp.status_code == 204, resp.text
        await asyncio.wait_for(closing.disconnected.wait(), 5)
        await asyncio.sleep(0.3)
        assert staying.sio.connected and not staying.disconnected.is_set()
    finally:
        await staying.sio.disconnect()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[engines.Engine]:
    """A Redis of the test's own, so that no other test's count for this address is in it."""
    engine = engines.start_redis(tmp_path / "redis", free_port())
    yield engine
    engine.stop()


async def test_handshakes_are_rate_limited_per_client_address(
    fleet: RunningFleet, start_gateway: Callable[..., str], own_redis: engines.Engine
) -> None:
    # The gateway knows no user at a Socket.IO handshake: it counts it against the address.
    gw = start_gateway(REDIS_URL=own_redis.url, RATE_LIMIT_ANONYMOUS="2/hour")
    token = fleet.fleet.signing_key.mint("sio-limited")
    for _ in range(2):
        client = Client()
        await client.connect(gw, {"token": token})
        assert client.sio.connected
        await client.sio.disconnect()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await Client().connect(gw, {"token": token})
    # Refused at the handshake with an HTTP status, which Socket.IO clients take as a failed
    # connection (they read no close codes).
    refused = await _handshake_status(gw)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


async def _handshake_status(gateway_url: str) -> Any:
    """The HTTP response that refused a Socket.IO WebSocket handshake."""
    url = gateway_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    return refused.value.response


async def test_a_handshake_is_refused_with_503_while_social_is_unreachable(
    fleet: RunningFleet, start_gateway: Callable[..., str]
) -> None:
    token = fleet.fleet.signing_key.mint("sio-stranded")
    client = Client()
    await client.connect(fleet.gateway_url, {"token": token})  # reachable: connected
    await client.sio.disconnect()
    gw = start_gateway(SOCIAL_HTTP_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(socketio.exceptions.ConnectionError):
        await Client().connect(gw, {"token": token})
    refused = await _handshake_status(gw)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
