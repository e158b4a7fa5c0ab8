"""Notifications of API.md "Social" through the gateway: what is stored for follows, likes and
comments, nobody notified of their own action, the re-like rule, newest first with a cursor,
grouped per (type, subject), the unread count and marking read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from codegram_devstack.e2e import Member, assert_error, member
from codegram_devstack.fleet import RunningFleet


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def notifications(gateway: httpx.Client, who: Member, **params: Any) -> list[dict[str, Any]]:
    resp = gateway.get("/notifications", headers=who.auth, params=params)
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def unread(gateway: httpx.Client, who: Member) -> int:
    resp = gateway.get("/notifications/unread_count", headers=who.auth)
    assert resp.status_code == 200, resp.text
    count: int = resp.json()["count"]
    return count


def snippet(gateway: httpx.Client, who: Member, title: str) -> dict[str, Any]:
    resp = gateway.post("/snippets", headers=who.auth, json={"title": title, "code": "x = 1\n"})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_what_is_notified(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob, carol = await member(fleet, "alice"), await member(fleet, "bob"), await member(fleet, "carol")
    item = snippet(gateway, alice, "Alice's snippet")
    sid = item["id"]

    # Bob follows, unfollows and follows again; likes, unlikes and likes again; comments twice.
    for method in ("put", "delete", "put"):
        assert (
            getattr(gateway, method)(f"/users/{alice.username}/follow", headers=bob.auth).status_code == 204
        )
    for method in ("put", "delete", "put"):
        assert getattr(gateway, method)(f"/snippets/{sid}/like", headers=bob.auth).status_code == 200
    for body in ("first", "second"):
        assert (
            gateway.post(f"/snippets/{sid}/comments", headers=bob.auth, json={"body": body}).status_code
            == 201
        )
    # Alice's own like and comment notify nobody.
    assert gateway.put(f"/snippets/{sid}/like", headers=alice.auth).status_code == 200
    assert (
        gateway.post(f"/snippets/{sid}/comments", headers=alice.auth, json={"body": "mine"}).status_code
        == 201
    )

    found = notifications(gateway, alice)
    assert [n["type"] for n in found] == ["comment", "comment", "like", "follow"]
    assert {n["actor"]["username"] for n in found} == {bob.username}
    assert found[0]["subject"] == {"type": "snippet", "id": sid, "title": "Alice's snippet"}
    assert found[-1]["subject"] is None
    assert all(n["read"] is False for n in found)
    assert set(found[0]) == {"id", "type", "actor", "subject", "read", "created_at"}
    assert set(found[0]["actor"]) >= {"id", "username", "full_name", "avatar_url"}
    # Nobody else got anything, not even the actor.
    assert notifications(gateway, bob) == []
    assert unread(gateway, alice) == 4

    # Newest first, page by page.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        resp = gateway.get("/notifications", headers=alice.auth, params=params)
        assert resp.status_code == 200, resp.text
        seen += [n["id"] for n in resp.json()["data"]]
        cursor = resp.json()["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [n["id"] for n in found]

    # Grouped: one entry per (type, subject), latest actors first.
    assert gateway.put(f"/snippets/{sid}/like", headers=carol.auth).status_code == 200
    groups = notifications(gateway, alice, grouped="true")
    assert [(g["type"], g["count"]) for g in groups] == [("like", 2), ("comment", 2), ("follow", 1)]
    like_group = groups[0]
    assert [a["username"] for a in like_group["actors"]] == [carol.username, bob.username]
    assert like_group["subject"]["id"] == sid
    assert like_group["group_key"] == f"like-snippet-{sid}"
    assert [a["username"] for a in groups[1]["actors"]] == [bob.username]
    assert groups[2]["subject"] is None
    assert set(like_group) == {"group_key", "type", "subject", "actors", "count", "read", "latest_at"}
    second = gateway.get("/notifications", headers=alice.auth, params={"grouped": "true", "limit": 2})
    assert second.status_code == 200
    rest = gateway.get(
        "/notifications",
        headers=alice.auth,
        params={"grouped": "true", "limit": 2, "cursor": second.json()["pagination"]["next_cursor"]},
    )
    assert [g["group_key"] for g in second.json()["data"] + rest.json()["data"]] == [
        g["group_key"] for g in groups
    ]


async def test_unread_count_and_marking_read(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob, carol = await member(fleet, "alice"), await member(fleet, "bob"), await member(fleet, "carol")
    item = snippet(gateway, alice, "Read me")
    assert gateway.put(f"/users/{alice.username}/follow", headers=bob.auth).status_code == 204
    assert gateway.put(f"/users/{alice.username}/follow", headers=carol.auth).status_code == 204
    assert gateway.put(f"/snippets/{item['id']}/like", headers=bob.auth).status_code == 200
    assert gateway.put(f"/users/{bob.username}/follow", headers=carol.auth).status_code == 204
    assert unread(gateway, alice) == 3
    newest = notifications(gateway, alice)[0]

    # Someone else's id changes nothing; one's own is marked.
    bobs = notifications(gateway, bob)[0]["id"]
    assert gateway.post("/notifications/read", headers=alice.auth, json={"ids": [bobs]}).status_code == 204
    assert unread(gateway, alice) == 3 and unread(gateway, bob) == 1
    assert (
        gateway.post("/notifications/read", headers=alice.auth, json={"ids": [newest["id"]]}).status_code
        == 204
    )
    assert unread(gateway, alice) == 2
    left = notifications(gateway, alice, unread="true")
    assert newest["id"] not in [n["id"] for n in left] and len(left) == 2
    assert [n["read"] for n in notifications(gateway, alice)] == [True, False, False]
    groups = notifications(gateway, alice, grouped="true", unread="true")
    assert [(g["type"], g["count"]) for g in groups] == [("follow", 2)]

    assert gateway.post("/notifications/read", headers=alice.auth, json={"all": True}).status_code == 204
    assert unread(gateway, alice) == 0
    assert notifications(gateway, alice, unread="true") == []
    assert unread(gateway, bob) == 1  # nobody else's

    for bad in (
        {},
        {"ids": []},
        {"ids": ["nope"]},
        {"all": False},
        {"ids": [newest["id"]], "all": True},
        {"x": 1},
    ):
        assert_error(
            gateway.post("/notifications/read", headers=alice.auth, json=bad), 400, "VALIDATION_ERROR"
        )
    assert_error(
        gateway.get("/notifications", params={"cursor": "garbage"}, headers=alice.auth),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(gateway.get("/notifications"), 401, "UNAUTHORIZED")
    assert_error(gateway.get("/notifications/unread_count"), 401, "UNAUTHORIZED")


async def test_a_known_actor_is_shown_without_asking_the_users_service(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    # Actors come from social's authors read model (users events), the push's included.
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    sid = snippet(gateway, alice, "Known actors")["id"]
    assert gateway.put(f"/users/{alice.username}/follow", headers=bob.auth).status_code == 204
    # Once one list shows Bob, social holds him (from his event, or read through once).
    assert [n["actor"]["username"] for n in notifications(gateway, alice)] == [bob.username]
    before = fleet.log("users").count("GetUsers")
    token = alice.auth["Authorization"].removeprefix("Bearer ")
    async with connect(fleet.gateway_url.replace("http", "ws", 1) + f"/api/v1/ws?access_token={token}") as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
        assert gateway.put(f"/snippets/{sid}/like", headers=bob.auth).status_code == 200
        push = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert (push["type"], push["data"]["type"], push["data"]["actor"]["username"]) == (
        "notification",
        "like",
        bob.username,
    )
    assert [n["actor"]["username"] for n in notifications(gateway, alice)] == [bob.username] * 2
    groups = notifications(gateway, alice, grouped="true")
    assert [[a["username"] for a in g["actors"]] for g in groups] == [[bob.username]] * 2
    assert fleet.log("users").count("GetUsers") == before
