"""Follows of API.md "Social" through the gateway: follow and unfollow, the followers and following
lists, and the users service's `stats` kept from the follow events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from codegram_devstack.e2e import Member, assert_error, member
from codegram_devstack.fleet import RunningFleet


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=10) as client:
        yield client


def usernames(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [user["username"] for user in resp.json()["data"]]


def all_pages(gateway: httpx.Client, path: str, limit: int) -> tuple[list[str], int]:
    """Every username of a list, walked page by page with its cursor; and how many pages it took."""
    found: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = gateway.get(path, params=params)
        found += usernames(resp)
        pages += 1
        cursor = resp.json()["pagination"]["next_cursor"]
        if cursor is None:
            return found, pages


async def test_follow_is_idempotent_and_lists_show_it_newest_first(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    fan = await member(fleet, "fan")
    stars: list[Member] = [await member(fleet, "star") for _ in range(3)]

    for star in stars:
        assert gateway.put(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204
    # Following again changes nothing: still 204, and no second entry.
    assert gateway.put(f"/users/{stars[0].username}/follow", headers=fan.auth).status_code == 204

    newest_first = [s.username for s in reversed(stars)]
    following, pages = all_pages(gateway, f"/users/{fan.username}/following", limit=2)
    assert following == newest_first
    assert pages == 2
    first = gateway.get(f"/users/{fan.username}/following", params={"limit": 1}).json()["data"][0]
    assert first["id"] == stars[-1].id
    assert set(first) >= {"id", "username", "full_name", "avatar_url", "stats", "created_at"}
    for star in stars:
        assert usernames(gateway.get(f"/users/{star.username}/followers")) == [fan.username]

    # Unfollowing removes the entry on both sides; unfollowing again is still 204.
    assert gateway.delete(f"/users/{stars[1].username}/follow", headers=fan.auth).status_code == 204
    assert gateway.delete(f"/users/{stars[1].username}/follow", headers=fan.auth).status_code == 204
    assert usernames(gateway.get(f"/users/{fan.username}/following")) == [
        stars[2].username,
        stars[0].username,
    ]
    assert usernames(gateway.get(f"/users/{stars[1].username}/followers")) == []


async def test_follow_refusals(fleet: RunningFleet, gateway: httpx.Client) -> None:
    fan = await member(fleet, "fan")
    star = await member(fleet, "star")
    assert gateway.put(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204

    assert_error(gateway.put(f"/users/{fan.username}/follow", headers=fan.auth), 400, "VALIDATION_ERROR")
    assert_error(gateway.put(f"/users/{star.username}/follow"), 401, "UNAUTHORIZED")
    assert_error(gateway.delete(f"/users/{star.username}/follow"), 401, "UNAUTHORIZED")
    nobody = f"nobody{star.username}"
    assert_error(gateway.put(f"/users/{nobody}/follow", headers=fan.auth), 404, "NOT_FOUND")
    assert_error(gateway.delete(f"/users/{nobody}/follow", headers=fan.auth), 404, "NOT_FOUND")
    assert usernames(gateway.get(f"/users/{star.username}/followers")) == [fan.username]
    assert_error(gateway.get(f"/users/{nobody}/followers"), 404, "NOT_FOUND")
    assert_error(gateway.get(f"/users/{nobody}/following"), 404, "NOT_FOUND")
    bad = gateway.get(f"/users/{star.username}/followers", params={"cursor": "not-a-cursor"})
    assert_error(bad, 400, "VALIDATION_ERROR")


def stats(gateway: httpx.Client, who: Member) -> dict[str, int]:
    resp = gateway.get(f"/users/{who.username}")
    assert resp.status_code == 200, resp.text
    return resp.json()["stats"]


async def wait_for_stats(gateway: httpx.Client, who: Member, followers: int, following: int) -> None:
    """The users service counts from social's events, so the numbers arrive shortly after."""
    seen: dict[str, int] = {}
    for _ in range(100):
        seen = stats(gateway, who)
        if (seen["followers"], seen["following"]) == (followers, following):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{who.username}: {seen}, wanted followers={followers} following={following}")


async def test_stats_follow_the_follows(fleet: RunningFleet, gateway: httpx.Client) -> None:
    fan = await member(fleet, "fan")
    other = await member(fleet, "other")
    stars = [await member(fleet, "star") for _ in range(2)]

    for star in stars:
        assert gateway.put(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204
        # Twice: one follow, one event, counted once.
        assert gateway.put(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204
    assert gateway.put(f"/users/{stars[0].username}/follow", headers=other.auth).status_code == 204
    await wait_for_stats(gateway, fan, followers=0, following=2)
    await wait_for_stats(gateway, stars[0], followers=2, following=0)
    await wait_for_stats(gateway, stars[1], followers=1, following=0)
    await wait_for_stats(gateway, other, followers=0, following=1)

    assert gateway.delete(f"/users/{stars[0].username}/follow", headers=fan.auth).status_code == 204
    assert gateway.delete(f"/users/{stars[0].username}/follow", headers=fan.auth).status_code == 204
    await wait_for_stats(gateway, fan, followers=0, following=1)
    await wait_for_stats(gateway, stars[0], followers=1, following=0)
    # Following again after unfollowing counts again.
    assert gateway.put(f"/users/{stars[0].username}/follow", headers=fan.auth).status_code == 204
    await wait_for_stats(gateway, stars[0], followers=2, following=0)
    await wait_for_stats(gateway, fan, followers=0, following=2)


async def test_followed_by_me_on_profiles_and_search(fleet: RunningFleet, gateway: httpx.Client) -> None:
    fan = await member(fleet, "fan")
    star = await member(fleet, "star")
    stranger = await member(fleet, "star")
    assert gateway.put(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204

    def followed(who: Member, headers: dict[str, str] | None = None) -> bool | None:
        resp = gateway.get(f"/users/{who.username}", headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json().get("followed_by_me")

    assert followed(star, fan.auth) is True
    assert followed(stranger, fan.auth) is False
    assert followed(star, star.auth) is False
    assert followed(star) is None  # nobody signed in: nobody to follow
    # A search page answers it for every user on it, from one call.
    for q in (star.username, stranger.username):
        found = gateway.get("/users", params={"q": q}, headers=fan.auth).json()["data"]
        assert [u["followed_by_me"] for u in found] == [q == star.username]

    assert gateway.delete(f"/users/{star.username}/follow", headers=fan.auth).status_code == 204
    assert followed(star, fan.auth) is False


async def test_followed_by_me_on_followers_and_following(fleet: RunningFleet, gateway: httpx.Client) -> None:
    host = await member(fleet, "host")
    followed = await member(fleet, "star")
    unfollowed = await member(fleet, "star")
    viewer = await member(fleet, "fan")
    for listed in (followed, unfollowed):
        assert gateway.put(f"/users/{host.username}/follow", headers=listed.auth).status_code == 204
        assert gateway.put(f"/users/{listed.username}/follow", headers=host.auth).status_code == 204
    assert gateway.put(f"/users/{followed.username}/follow", headers=viewer.auth).status_code == 204

    def marks(
        path: str, headers: dict[str, str] | None = None, params: dict[str, str | int] | None = None
    ) -> dict[str, bool | None]:
        resp = gateway.get(path, headers=headers, params=params)
        assert resp.status_code == 200, resp.text
        return {u["username"]: u.get("followed_by_me") for u in resp.json()["data"]}

    for side in ("followers", "following"):
        path = f"/users/{host.username}/{side}"
        assert marks(path, viewer.auth) == {followed.username: True, unfollowed.username: False}
        # Nobody signed in: nobody to follow.
        assert marks(path) == {followed.username: None, unfollowed.username: None}
        # Every page answers it, the later ones too.
        cursor = gateway.get(path, params={"limit": 1}, headers=viewer.auth).json()["pagination"]
        later = marks(path, viewer.auth, {"limit": 1, "cursor": cursor["next_cursor"]})
        assert later == {followed.username: True}

    assert gateway.delete(f"/users/{followed.username}/follow", headers=viewer.auth).status_code == 204
    assert marks(f"/users/{host.username}/followers", viewer.auth) == {
        followed.username: False,
        unfollowed.username: False,
    }
