"""The feed from social's own read models (codegram_social.feed_api): a page of items and authors
social already holds asks the content and users services nothing; an edit of an item and a profile
change still reach the feed; and an item made private or deleted is gone from the very next page
once the write has answered, as when the feed asked the content services on every page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from codegram_devstack.e2e import Member, member
from codegram_devstack.fleet import RunningFleet

DEADLINE_SECONDS = 30.0


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def _feed(gateway: httpx.Client, who: Member) -> list[dict[str, Any]]:
    resp = gateway.get("/feed", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return [entry["item"] for entry in resp.json()["data"]]


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _followed_items(fleet: RunningFleet, gateway: httpx.Client) -> tuple[Member, Member, str, str]:
    """A reader following an author with a snippet and a doc, both in the reader's feed."""
    reader, author = await member(fleet, "reader"), await member(fleet, "author")
    assert gateway.put(f"/users/{author.username}/follow", headers=reader.auth).status_code == 204
    snippet = gateway.post(
        "/snippets",
        headers=author.auth,
        json={"title": "Known", "description": "first words", "code": "print(1)\n", "tags": ["one"]},
    )
    doc = gateway.post("/docs", headers=author.auth, json={"title": "Known doc", "content": "# Hi\n"})
    assert snippet.status_code == doc.status_code == 201, (snippet.text, doc.text)
    snippet_id, doc_id = snippet.json()["id"], doc.json()["id"]
    await _until(lambda: [i["id"] for i in _feed(gateway, reader)] == [doc_id, snippet_id], "the feed")
    return reader, author, snippet_id, doc_id


async def test_a_page_of_known_items_and_authors_asks_no_other_service(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    reader, author, snippet_id, _ = await _followed_items(fleet, gateway)
    # What the pages above read through (an item's list fields, once per version) is kept.
    calls = {"snippets": "GetSnippets", "docs": "GetDocs", "users": "GetUsers"}
    before = {service: fleet.log(service).count(method) for service, method in calls.items()}
    for _ in range(3):
        items = _feed(gateway, reader)
    assert {service: fleet.log(service).count(method) for service, method in calls.items()} == before
    snippet = next(i for i in items if i["id"] == snippet_id)
    listed = gateway.get(f"/users/{author.username}/snippets").json()["data"]
    assert snippet == next(i for i in listed if i["id"] == snippet_id)


async def test_an_edit_and_a_profile_change_reach_the_feed(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    reader, author, snippet_id, doc_id = await _followed_items(fleet, gateway)
    told = fleet.log("social").count("ContentChanged")
    edit = {"description": "other words", "tags": ["two"], "code": "print(2)\n"}
    assert gateway.patch(f"/snippets/{snippet_id}", headers=author.auth, json=edit).status_code == 200
    assert gateway.patch(f"/docs/{doc_id}", headers=author.auth, json={"title": "Renamed"}).status_code == 200
    # Each edit is told to social as it answers (as a delete or a visibility change is), so the
    # feed's next page shows no older version even before the events arrive.
    await _until(lambda: fleet.log("social").count("ContentChanged") == told + 2, "social told of both edits")
    renamed = gateway.patch("/users/me", headers=author.auth, json={"full_name": "Another Name"})
    assert renamed.status_code == 200, renamed.text

    def shows_the_changes() -> bool:
        items = {i["id"]: i for i in _feed(gateway, reader)}
        snippet, doc = items[snippet_id], items[doc_id]
        return (
            (snippet["description"], snippet["tags"], snippet["code_preview"])
            == ("other words", ["two"], "print(2)")
            and doc["title"] == "Renamed"
            and snippet["author"]["full_name"] == doc["author"]["full_name"] == "Another Name"
        )

    await _until(shows_the_changes, "the edits and the new name in the feed")
    listed = gateway.get(f"/users/{author.username}/snippets").json()["data"]
    assert next(i for i in _feed(gateway, reader) if i["id"] == snippet_id) == next(
        i for i in listed if i["id"] == snippet_id
    )


def _kept_list_fields(fleet: RunningFleet, item_id: str) -> tuple[object, ...]:
    """What social keeps of an item beyond the events' facts (looked at behind its back)."""
    url = fleet.fleet.admin_url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT description, tags, language, code_preview, slug, listed_at FROM social.content"
            " WHERE id = %s",
            (item_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


async def test_private_or_deleted_is_gone_from_the_next_page_and_leaves_no_copy(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    reader, author, snippet_id, doc_id = await _followed_items(fleet, gateway)
    description, tags, _, code_preview, _, listed_at = _kept_list_fields(fleet, snippet_id)
    assert (description, tags, code_preview) == ("first words", ["one"], "print(1)") and listed_at
    assert _kept_list_fields(fleet, doc_id)[4] is not None  # the slug, kept while public
    made_private = gateway.patch(f"/docs/{doc_id}", headers=author.auth, json={"visibility": "private"})
    assert made_private.status_code == 200, made_private.text
    assert [i["id"] for i in _feed(gateway, reader)] == [snippet_id]
    assert gateway.delete(f"/snippets/{snippet_id}", headers=author.auth).status_code == 204
    assert _feed(gateway, reader) == []
    # Neither the private doc's nor the deleted snippet's list fields are kept by social.
    assert _kept_list_fields(fleet, doc_id) == (None,) * 6
    assert _kept_list_fields(fleet, snippet_id) == (None,) * 6
    # Public again: back in the feed (the fan-out puts it back).
    public = gateway.patch(f"/docs/{doc_id}", headers=author.auth, json={"visibility": "public"})
    assert public.status_code == 200, public.text
    await _until(lambda: [i["id"] for i in _feed(gateway, reader)] == [doc_id], "the doc back in the feed")
