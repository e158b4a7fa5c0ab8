"""What a hostile client sends, through the real gateway and straight to the services: crafted
tokens are a 401, NUL bytes and out-of-range cursors a 400, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from codegram_devstack.e2e import assert_error, member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_devstack.hostile_tokens import hostile_tokens


def _bearer(token: str) -> dict[str, bytes]:
    # Bytes, so that a token with non-ASCII characters goes on the wire as a client would send it.
    return {"Authorization": b"Bearer " + token.encode("utf-8")}


def _refused(resp: httpx.Response, status: int, code: str, context: str) -> None:
    assert resp.status_code == status, f"{context}: {resp.status_code} {resp.text}"
    assert_error(resp, status, code)


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
    user = await member(fleet, "tokens")
    token = user.auth["Authorization"].removeprefix("Bearer ")
    hostile = hostile_tokens(fleet.fleet.signing_key)
    doors = {"gateway": fleet.gateway_url, "users": fleet.http_url("users")}
    with no_tracebacks(fleet, "gateway", "users"), httpx.Client(timeout=10) as client:
        for door, base in doors.items():
            me = client.get(base + "/api/v1/users/me", headers=_bearer(token))
            assert me.status_code == 200, f"{door}: {me.text}"
            assert me.json()["id"] == user.id
            for name, crafted in hostile.items():
                resp = client.get(base + "/api/v1/users/me", headers=_bearer(crafted))
                _refused(resp, 401, "UNAUTHORIZED", f"{door}, {name}")


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
    token = (await member(fleet, "wstokens")).auth["Authorization"].removeprefix("Bearer ")
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


# -- NUL characters --------------------------------------------------------------------------------


def _cursor(json_text: str) -> str:
    # Written by hand as a hostile client would: json.dumps would never write these numbers.
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


async def test_nul_characters_are_400_in_paths_queries_and_bodies(fleet: RunningFleet) -> None:
    who = await member(fleet, "nul")
    username = who.username.lower()
    with no_tracebacks(fleet, "gateway", "users", "snippets"), httpx.Client(timeout=10) as client:
        for door, base in {"gateway": fleet.gateway_url, "users": fleet.http_url("users")}.items():
            api = base + "/api/v1"
            # The same calls without the NUL are answered.
            assert client.get(f"{api}/users/{username}").status_code == 200, door
            found = client.get(f"{api}/users", params={"q": username})
            assert [u["id"] for u in found.json()["data"]] == [who.id], door
            for path in ("/users/%00", f"/users/{username}%00", "/users/a%00b"):
                _refused(client.get(api + path), 400, "VALIDATION_ERROR", f"{door} {path}")
            for query in ("q=%00", f"q={username}%00", "limit=1&q=a%00b", "q%00=x"):
                _refused(client.get(f"{api}/users?{query}"), 400, "VALIDATION_ERROR", f"{door} {query}")
            # A users search cursor names a username, which the cursor's client could make a NUL.
            nul_cursor = _cursor('{"u": "a\\u0000"}')
            _refused(client.get(f"{api}/users", params={"cursor": nul_cursor}), 400, "VALIDATION_ERROR", door)

            assert client.patch(f"{api}/users/me", headers=who.auth, json={"bio": "fine"}).status_code == 200
            for body in ('{"bio": "a\\u0000b"}', '{"location": "\\u0000"}', '{"bio": "a\x00b"}'):
                resp = client.patch(
                    f"{api}/users/me", headers={**who.auth, "content-type": "application/json"}, content=body
                )
                _refused(resp, 400, "VALIDATION_ERROR", f"{door} {body!r}")
            assert client.get(f"{api}/users/me", headers=who.auth).json()["bio"] == "fine"

        # The gateway's own search, which fans the query out to the content services.
        search = fleet.gateway_url + "/api/v1/search"
        assert client.get(search, params={"q": "fine"}).status_code == 200
        _refused(client.get(search, params={"q": "fi\x00ne"}), 400, "VALIDATION_ERROR", "search")

        snippets = fleet.gateway_url + "/api/v1/snippets"
        made = client.post(snippets, headers=who.auth, json={"title": "fine", "code": "x = 1"})
        assert made.status_code == 201, made.text
        for title in ("a\u0000b", "\u0000"):
            resp = client.post(snippets, headers=who.auth, json={"title": title, "code": "x = 1"})
            _refused(resp, 400, "VALIDATION_ERROR", repr(title))
        resp = client.post(snippets, headers=who.auth, json={"title": "t", "code": "x", "tags": ["a\u0000"]})
        _refused(resp, 400, "VALIDATION_ERROR", "tag")


async def test_a_popular_cursor_beyond_the_bigint_range_is_400(fleet: RunningFleet) -> None:
    who = await member(fleet, "cursor")
    label = tag()
    with no_tracebacks(fleet, "gateway", "snippets"), httpx.Client(timeout=10) as client:
        snippets = fleet.gateway_url + "/api/v1/snippets"
        for title in ("one", "two"):
            body = {"title": title, "code": "x", "tags": [label]}
            assert client.post(snippets, headers=who.auth, json=body).status_code == 201
        popular = {"tag": label, "sort": "popular", "limit": 1}
        first = client.get(snippets, params=popular)
        assert first.status_code == 200, first.text
        next_cursor = first.json()["pagination"]["next_cursor"]
        following = client.get(snippets, params={**popular, "cursor": next_cursor})
        assert following.status_code == 200 and len(following.json()["data"]) == 1, following.text
        some_id = first.json()["data"][0]["id"]
        for likes in (str(2**63), str(2**70), str(-(2**63) - 1), "1e400"):
            cursor = _cursor(f'{{"i": "{some_id}", "l": {likes}, "o": "popular"}}')
            resp = client.get(snippets, params={"tag": label, "sort": "popular", "cursor": cursor})
            _refused(resp, 400, "VALIDATION_ERROR", likes)
