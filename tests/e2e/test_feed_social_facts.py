"""The feed's social facts of each item through the gateway: its likes and comments counts (social's
own read model) and `liked_by_me` for the reader, a snippet and a doc on one page."""

from __future__ import annotations

import asyncio

import httpx

from codegram_devstack.e2e import member
from codegram_devstack.fleet import RunningFleet

DEADLINE_SECONDS = 30.0


async def test_feed_items_carry_their_counts_and_the_readers_likes(fleet: RunningFleet) -> None:
    reader, author = await member(fleet, "reader"), await member(fleet, "author")
    other = await member(fleet, "other")
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as gateway:
        snippet = gateway.post("/snippets", headers=author.auth, json={"title": "Liked", "code": "x = 1\n"})
        doc = gateway.post("/docs", headers=author.auth, json={"title": "Not liked", "content": "# Hi\n"})
        assert snippet.status_code == doc.status_code == 201, (snippet.text, doc.text)
        snippet_id, doc_id = snippet.json()["id"], doc.json()["id"]
        assert gateway.put(f"/users/{author.username}/follow", headers=reader.auth).status_code == 204

        assert gateway.put(f"/snippets/{snippet_id}/like", headers=reader.auth).status_code == 200
        assert gateway.put(f"/snippets/{snippet_id}/like", headers=other.auth).status_code == 200
        assert gateway.put(f"/docs/{doc_id}/like", headers=other.auth).status_code == 200
        comment = gateway.post(f"/docs/{doc_id}/comments", headers=other.auth, json={"body": "Nice"})
        assert comment.status_code == 201, comment.text

        expected = {
            snippet_id: {"liked_by_me": True, "likes_count": 2, "comments_count": 0},
            doc_id: {"liked_by_me": False, "likes_count": 1, "comments_count": 1},
        }
        seen: dict[str, dict[str, object]] = {}
        for _ in range(int(DEADLINE_SECONDS / 0.2)):  # the follow's backfill arrives by an event
            resp = gateway.get("/feed", headers=reader.auth)
            assert resp.status_code == 200, resp.text
            seen = {
                e["item"]["id"]: {k: e["item"][k] for k in ("liked_by_me", "likes_count", "comments_count")}
                for e in resp.json()["data"]
            }
            if seen == expected:
                break
            await asyncio.sleep(0.2)
        assert seen == expected
        # `liked_by_me` is the reader's: the other liker sees both liked.
        assert gateway.put(f"/users/{author.username}/follow", headers=other.auth).status_code == 204
        liked: dict[str, bool] = {}
        for _ in range(int(DEADLINE_SECONDS / 0.2)):
            page = gateway.get("/feed", headers=other.auth).json()["data"]
            liked = {e["item"]["id"]: e["item"]["liked_by_me"] for e in page}
            if len(liked) == 2:
                break
            await asyncio.sleep(0.2)
        assert liked == {snippet_id: True, doc_id: True}
