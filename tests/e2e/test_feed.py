"""The home feed (API.md "Social", `GET /feed`) through the gateway: what a follow brings in and an
unfollow, delete or visibility change takes out, never one's own or non-public items, paging while
items are added, and a capped timeline that still pages through everything."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from codegram_devstack.e2e import Member, assert_error, member
from codegram_devstack.fleet import RunningFleet
from codegram_kit.db.engine import Database, create_engine, to_async_url
from codegram_social.feed import trim_batch
from codegram_social.models import content, timeline

# Fan-out and the content read model learn from events: moments on a quiet machine, longer on a
# loaded one; every wait polls until this deadline rather than asserting a time.
DEADLINE_SECONDS = 30.0


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
async def social_db(fleet: RunningFleet) -> AsyncIterator[Database]:
    """The social service's own database, as the service connects to it (its schema and role)."""
    db = Database(create_engine(to_async_url(fleet.fleet.service_db_urls["social"]), "social", pool_size=2))
    yield db
    await db.dispose()


def _snippet(gateway: httpx.Client, who: Member, **body: Any) -> str:
    body.setdefault("title", f"Snippet {uuid.uuid4().hex[:6]}")
    body.setdefault("code", "def hello():\n    return 'hi'\n")
    body.setdefault("language", "python")
    resp = gateway.post("/snippets", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _doc(gateway: httpx.Client, who: Member, **body: Any) -> str:
    body.setdefault("title", f"Doc {uuid.uuid4().hex[:6]}")
    body.setdefault("content", "# Notes\n\nSome text.\n")
    resp = gateway.post("/docs", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _follow(gateway: httpx.Client, who: Member, whom: Member) -> None:
    assert gateway.put(f"/users/{whom.username}/follow", headers=who.auth).status_code == 204


def _page(gateway: httpx.Client, who: Member, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    resp = gateway.get("/feed", headers=who.auth, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    if body["pagination"]["next_cursor"] is not None:
        assert 'rel="next"' in resp.headers["link"]
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [entry["item"]["id"] for entry in body["data"]]


def _past_timeline(cursor: str) -> bool:
    padded = cursor + "=" * (-len(cursor) % 4)
    return json.loads(base64.urlsafe_b64decode(padded)).get("p") == 1


def _everything(gateway: httpx.Client, who: Member, limit: int) -> list[str]:
    """Every id of the feed, walked page by page with its cursor."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        body = _page(gateway, who, limit, cursor)
        found += _ids(body)
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return found


async def _feed_becomes(
    gateway: httpx.Client, who: Member, expected: list[str], read: Callable[[], list[str]] | None = None
) -> None:
    read = read or (lambda: _ids(_page(gateway, who)))
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        seen = read()
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the feed is {seen}, expected {expected}")


async def _poll(read: Callable[[], Any], expected: Any, what: str) -> None:
    seen = None
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        seen = await read()
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} is {seen}, expected {expected}")


async def _timeline_becomes(db: Database, who: Member, expected: list[str]) -> None:
    """The fan-out's own table holds exactly these items for `who`, newest first (the read
    leaves out what left it anyway; this shows the timeline itself is kept)."""

    async def read() -> list[str]:
        async with db.unit_of_work() as session:
            query = (
                sa.select(timeline.c.item_id)
                .where(timeline.c.user_id == uuid.UUID(who.id))
                .order_by(timeline.c.created_at.desc(), timeline.c.item_id.desc())
            )
            return [str(i) for i in (await session.execute(query)).scalars()]

    await _poll(read, expected, f"the timeline of {who.username}")


async def _known_to_social(db: Database, ids: list[str]) -> None:
    """The content read model has these items (a follow backfills from what it has)."""

    async def read() -> int:
        async with db.unit_of_work() as session:
            query = sa.select(sa.func.count()).where(content.c.id.in_([uuid.UUID(i) for i in ids]))
            return int((await session.execute(query)).scalar_one())

    await _poll(read, len(ids), "the number of these items social knows")


async def test_a_follow_brings_in_public_items_newest_first_and_never_ones_own(
    fleet: RunningFleet, gateway: httpx.Client, social_db: Database
) -> None:
    reader, bob, carol = (
        await member(fleet, "reader"),
        await member(fleet, "bob"),
        await member(fleet, "carol"),
    )
    old_snippet = _snippet(gateway, bob, description="An old one", tags=["feedtest"])
    old_doc = _doc(gateway, bob, description="Old notes")
    _snippet(gateway, bob, visibility="private")
    _doc(gateway, bob, visibility="unlisted")
    _snippet(gateway, reader)  # the reader's own: never in their feed
    assert _ids(_page(gateway, reader)) == []

    # A follow backfills the followee's public items, newest first, into the reader's timeline.
    await _known_to_social(social_db, [old_snippet, old_doc])
    _follow(gateway, reader, bob)
    await _feed_becomes(gateway, reader, [old_doc, old_snippet])
    await _timeline_becomes(social_db, reader, [old_doc, old_snippet])

    # New public items of the people one follows come in on top; others' and private ones never.
    _follow(gateway, reader, carol)
    new_doc = _doc(gateway, carol)
    _snippet(gateway, carol, visibility="private")
    _snippet(gateway, await member(fleet, "stranger"))
    new_snippet = _snippet(gateway, bob)
    _snippet(gateway, reader)
    await _feed_becomes(gateway, reader, [new_snippet, new_doc, old_doc, old_snippet])
    await _timeline_becomes(social_db, reader, [new_snippet, new_doc, old_doc, old_snippet])

    # Each item is the snippet or doc as the lists show it.
    body = _page(gateway, reader)
    assert [e["type"] for e in body["data"]] == ["snippet", "doc", "doc", "snippet"]
    listed = gateway.get(f"/users/{bob.username}/snippets").json()["data"]
    as_listed = next(item for item in listed if item["id"] == old_snippet)
    snippet = body["data"][3]["item"]
    assert snippet == as_listed
    assert snippet["code_preview"].startswith("def hello():")
    assert snippet["author"]["username"] == bob.username
    assert (snippet["description"], snippet["tags"], snippet["language"]) == (
        "An old one",
        ["feedtest"],
        "python",
    )
    doc = body["data"][1]["item"]
    listed_docs = gateway.get(f"/users/{carol.username}/docs").json()["data"]
    assert doc == next(item for item in listed_docs if item["id"] == new_doc)
    assert (doc["liked_by_me"], doc["likes_count"], doc["comments_count"]) == (False, 0, 0)


async def test_feed_refusals(fleet: RunningFleet, gateway: httpx.Client) -> None:
    reader = await member(fleet, "reader")
    assert gateway.get("/feed", headers=reader.auth).status_code == 200
    assert_error(gateway.get("/feed"), 401, "UNAUTHORIZED")
    assert_error(gateway.get("/feed", headers={"Authorization": "Bearer nonsense"}), 401, "UNAUTHORIZED")
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": "e30"},
    ):
        assert_error(gateway.get("/feed", headers=reader.auth, params=params), 400, "VALIDATION_ERROR")


async def test_unfollow_delete_and_visibility_changes_take_items_out(
    fleet: RunningFleet, gateway: httpx.Client, social_db: Database
) -> None:
    reader, bob = await member(fleet, "reader"), await member(fleet, "bob")
    _follow(gateway, reader, bob)
    first = _snippet(gateway, bob)
    second = _snippet(gateway, bob)
    doc = _doc(gateway, bob)
    await _feed_becomes(gateway, reader, [doc, second, first])
    await _timeline_becomes(social_db, reader, [doc, second, first])

    assert gateway.delete(f"/snippets/{second}", headers=bob.auth).status_code == 204
    await _feed_becomes(gateway, reader, [doc, first])
    await _timeline_becomes(social_db, reader, [doc, first])

    for visibility in ("private", "unlisted"):
        resp = gateway.patch(f"/snippets/{first}", headers=bob.auth, json={"visibility": visibility})
        assert resp.status_code == 200, resp.text
        await _feed_becomes(gateway, reader, [doc])
        await _timeline_becomes(social_db, reader, [doc])
        # Public again: back in its place.
        resp = gateway.patch(f"/snippets/{first}", headers=bob.auth, json={"visibility": "public"})
        assert resp.status_code == 200, resp.text
        await _feed_becomes(gateway, reader, [doc, first])

    resp = gateway.patch(f"/docs/{doc}", headers=bob.auth, json={"visibility": "private"})
    assert resp.status_code == 200, resp.text
    await _feed_becomes(gateway, reader, [first])

    assert gateway.delete(f"/users/{bob.username}/follow", headers=reader.auth).status_code == 204
    await _feed_becomes(gateway, reader, [])
    await _timeline_becomes(social_db, reader, [])
    # Following again brings the public ones back.
    _follow(gateway, reader, bob)
    await _feed_becomes(gateway, reader, [first])


async def test_paging_while_items_are_added_repeats_and_skips_nothing(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    reader, bob, carol = (
        await member(fleet, "reader"),
        await member(fleet, "bob"),
        await member(fleet, "carol"),
    )
    _follow(gateway, reader, bob)
    _follow(gateway, reader, carol)
    made = [(_snippet if i % 2 else _doc)(gateway, bob if i % 3 else carol) for i in range(8)]
    at_start = list(reversed(made))
    await _feed_becomes(gateway, reader, at_start)

    first = _page(gateway, reader, limit=3)
    seen = _ids(first)
    cursor = first["pagination"]["next_cursor"]
    added: list[str] = []
    while cursor is not None:
        # Items keep arriving between pages; wait until the fan-out has them, then read on.
        added.append(_snippet(gateway, bob))
        await _feed_becomes(gateway, reader, [added[-1]], lambda: _ids(_page(gateway, reader, limit=1)))
        body = _page(gateway, reader, limit=3, cursor=cursor)
        seen += _ids(body)
        cursor = body["pagination"]["next_cursor"]
    assert seen == at_start
    assert _ids(_page(gateway, reader)) == list(reversed(added)) + at_start


async def test_a_capped_timeline_still_pages_through_everything(
    fleet: RunningFleet, gateway: httpx.Client, social_db: Database
) -> None:
    reader, bob, carol = (
        await member(fleet, "reader"),
        await member(fleet, "bob"),
        await member(fleet, "carol"),
    )
    _follow(gateway, reader, bob)
    _follow(gateway, reader, carol)
    made = [_snippet(gateway, bob if i % 2 else carol) for i in range(9)]
    newest_first = list(reversed(made))
    await _feed_becomes(gateway, reader, newest_first)
    reader_id = uuid.UUID(reader.id)

    async def timeline_size() -> int:
        async with social_db.unit_of_work() as session:
            count = sa.select(sa.func.count()).select_from(timeline).where(timeline.c.user_id == reader_id)
            return int((await session.execute(count)).scalar_one())

    assert await timeline_size() == 9
    # The periodic sweep's run, with a cap of 4, over this one user (the sweep starts after the
    # id it is given): the rest is read past the timeline's end.
    just_before = uuid.UUID(int=reader_id.int - 1)
    assert await trim_batch(social_db, 4, just_before, batch=1) == reader_id
    assert await timeline_size() == 4
    for limit in (1, 2, 3, 4, 5, 100):
        assert _everything(gateway, reader, limit) == newest_first, limit
    # A page that reached the timeline's end marks its cursor, and the pages after it are read
    # past the timeline alone; one that did not, does not.
    assert not _past_timeline(_page(gateway, reader, 2)["pagination"]["next_cursor"])
    marked = _page(gateway, reader, 5)["pagination"]["next_cursor"]
    assert _past_timeline(marked)
    assert _ids(_page(gateway, reader, 100, marked)) == newest_first[5:]

    # A follow into a trimmed timeline: the newcomer's items join without opening a gap.
    dave = await member(fleet, "dave")
    daves = [_doc(gateway, dave) for _ in range(3)]
    _follow(gateway, reader, dave)
    expected = list(reversed(daves)) + newest_first
    await _feed_becomes(gateway, reader, expected)
    for limit in (2, 5):
        assert _everything(gateway, reader, limit) == expected, limit
    # New items still fan out into the trimmed timeline, and paging past it still finds the rest.
    latest = _snippet(gateway, carol)
    await _feed_becomes(gateway, reader, [latest, *expected])
    assert _everything(gateway, reader, 3) == [latest, *expected]


async def test_a_follow_right_after_a_post_backfills_the_post(
    fleet: RunningFleet, gateway: httpx.Client, social_db: Database
) -> None:
    # The content read model and the fan-out consume side by side. Hold the read model back (a
    # lock its writes wait on) while the fan-out handles a post, and while a follow of its author
    # arrives: the follow's backfill must still bring the post in once the read model has it.
    bob, carol, witness, reader = [await member(fleet, n) for n in ("bob", "carol", "witness", "reader")]
    # The reader's timeline already holds an older item: one it lacked above that would be a gap.
    _follow(gateway, reader, carol)
    older = _doc(gateway, carol)
    await _timeline_becomes(social_db, reader, [older])
    _follow(gateway, witness, bob)
    async with social_db.engine.connect() as held:
        await held.execute(sa.text("LOCK TABLE social.content IN SHARE MODE"))
        post = _snippet(gateway, bob)
        # The fan-out has handled the post (before the reader followed) once the witness has it.
        await _timeline_becomes(social_db, witness, [post])
        _follow(gateway, reader, bob)
        await asyncio.sleep(2)  # the follow reaches the fan-out while the read model is held back
        await held.rollback()
    await _timeline_becomes(social_db, reader, [post, older])
    await _feed_becomes(gateway, reader, [post, older])
