"""Likes of one subject at the same moment, through the gateway: the counter moves once per new
like in order (every answer a different count), a user's two likes at once are one like, and the
author gets one notification per liker."""

from __future__ import annotations

import asyncio

import httpx

from codegram_devstack.e2e import member
from codegram_devstack.fleet import RunningFleet

LIKERS = 8


async def test_likes_at_once_count_each_new_like_once(fleet: RunningFleet) -> None:
    author = await member(fleet, "author")
    likers = [await member(fleet, f"liker{i}") for i in range(LIKERS)]
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        created = await client.post(
            "/snippets", headers=author.auth, json={"title": "Liked at once", "code": "x = 1\n"}
        )
        assert created.status_code == 201, created.text
        path = f"/snippets/{created.json()['id']}/like"

        # Each liker twice, all at once.
        answers = await asyncio.gather(*(client.put(path, headers=who.auth) for who in likers * 2))

        assert [a.status_code for a in answers] == [200] * (2 * LIKERS), [a.text for a in answers]
        assert all(a.json()["liked"] for a in answers)
        # The new likes move the counter one at a time, so they answer 1..LIKERS between them;
        # a repeat adds nothing and answers the count it found.
        assert {a.json()["likes_count"] for a in answers} == set(range(1, LIKERS + 1))
        again = await client.put(path, headers=likers[0].auth)
        assert again.json() == {"liked": True, "likes_count": LIKERS}

        listed = await client.get(
            "/notifications", headers=author.auth, params={"grouped": "true", "limit": 10}
        )
        assert listed.status_code == 200, listed.text
        likes = [g for g in listed.json()["data"] if g["type"] == "like"]
        assert [g["count"] for g in likes] == [LIKERS]
