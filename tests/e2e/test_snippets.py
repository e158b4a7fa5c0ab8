"""The snippets endpoints of API.md, driven through the real gateway, snippets and users services,
Postgres and NATS; the internal search the gateway fans out to; events; the gRPC batch read."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import pytest
from grpc import aio

from codegram_devstack.e2e import Member, assert_error, ids, member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.events.v1 import snippets_pb2 as events_pb2
from codegram_proto.codegram.snippets.v1 import snippets_pb2, snippets_pb2_grpc

PY_CODE = "def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n"


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


@pytest.fixture
def search(fleet: RunningFleet) -> httpx.Client:
    """The snippets service's internal search, called as the gateway calls it."""
    with httpx.Client(base_url=fleet.http_url("snippets") + "/internal/v1", timeout=15) as client:
        yield client


def create(gateway: httpx.Client, who: Member, **body: object) -> dict:
    body.setdefault("title", "A snippet")
    body.setdefault("code", PY_CODE)
    resp = gateway.post("/snippets", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


# -- POST /snippets ---------------------------------------------------------------------------


async def test_create_answers_201_with_location_author_and_normalised_tags(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet, "alice")
    resp = gateway.post(
        "/snippets",
        headers=alice.auth,
        json={
            "title": "  Adding numbers ",
            "description": "the basics",
            "code": "    indented first line\n" + PY_CODE,
            "tags": [" Python ", "python", "Math", "c++"],
        },
    )

    assert resp.status_code == 201, resp.text
    snippet = resp.json()
    assert resp.headers["location"] == f"/api/v1/snippets/{snippet['id']}"
    assert snippet["title"] == "Adding numbers"
    assert snippet["code"].startswith("    indented first line\n")  # code keeps its whitespace
    assert snippet["tags"] == ["python", "math", "c++"]
    assert snippet["visibility"] == "public"
    assert snippet["language"] == "python"  # detected
    assert snippet["author"] == {
        "id": alice.id,
        "username": alice.username,
        "full_name": "alice Person",
        "avatar_url": "",
    }
    assert (snippet["likes_count"], snippet["comments_count"], snippet["liked_by_me"]) == (0, 0, False)
    assert snippet["created_at"].endswith("Z") and snippet["updated_at"] == snippet["created_at"]
    assert gateway.get(resp.headers["location"].removeprefix("/api/v1")).json() == snippet


async def test_a_given_language_is_canonicalised(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    assert create(gateway, alice, language="Python")["language"] == "python"
    assert create(gateway, alice, language="c++", code="int main() {}\n")["language"] == "cpp"


async def test_create_needs_a_token(gateway: httpx.Client) -> None:
    assert_error(gateway.post("/snippets", json={"title": "t", "code": "x"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "x"}, "title"),
        ({"title": "t"}, "code"),
        ({"title": "t", "code": "   "}, "code"),
        ({"title": "t", "code": "x" * (100 * 1024 + 1)}, "code"),
        ({"title": "t", "code": "é" * (50 * 1024 + 1)}, "code"),  # 100 KiB is bytes, not characters
        ({"title": "t", "code": "x", "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"title": "t", "code": "x", "tags": ["no spaces"]}, "tags"),
        ({"title": "t", "code": "x", "tags": ["x" * 31]}, "tags"),
        ({"title": "t", "code": "x", "language": "klingon"}, "language"),
        ({"title": "t", "code": "x", "visibility": "secret"}, "visibility"),
        ({"title": "t", "code": "x", "author_id": "someone-else"}, "author_id"),
        ({"title": "t\x00", "code": "x"}, "title"),
        ({"title": "t", "code": "x\x00"}, "code"),
        ({"title": "x" * 201, "code": "x"}, "title"),
    ],
)
async def test_bad_bodies_are_400_and_create_nothing(
    fleet: RunningFleet, gateway: httpx.Client, body: dict, field: str
) -> None:
    alice = await member(fleet)
    error = assert_error(gateway.post("/snippets", headers=alice.auth, json=body), 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["error"]["details"]]
    assert ids(gateway.get(f"/users/{alice.username}/snippets", headers=alice.auth)) == []


async def test_exactly_100_kib_of_code_is_accepted(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    snippet = create(gateway, alice, code="x" * (100 * 1024), language="text")
    assert len(gateway.get(f"/snippets/{snippet['id']}").json()["code"]) == 100 * 1024


# -- GET /snippets/{id} -----------------------------------------------------------------------


async def test_visibility_by_id(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice, visibility="public")
    unlisted = create(gateway, alice, visibility="unlisted")
    private = create(gateway, alice, visibility="private", title="my secret")

    for viewer in ({}, bob.auth, alice.auth):
        assert gateway.get(f"/snippets/{public['id']}", headers=viewer).status_code == 200
        assert gateway.get(f"/snippets/{unlisted['id']}", headers=viewer).status_code == 200
    hidden = assert_error(gateway.get(f"/snippets/{private['id']}"), 404, "NOT_FOUND")
    assert "secret" not in str(hidden)
    assert_error(gateway.get(f"/snippets/{private['id']}", headers=bob.auth), 404, "NOT_FOUND")
    assert gateway.get(f"/snippets/{private['id']}", headers=alice.auth).json()["title"] == "my secret"
    # A private snippet is answered exactly like one that never existed.
    assert_error(gateway.get(f"/snippets/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert_error(gateway.get("/snippets/not-an-id"), 404, "NOT_FOUND")


async def test_etag_answers_304_and_changes_with_the_snippet(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    snippet = create(gateway, alice)
    first = gateway.get(f"/snippets/{snippet['id']}")
    etag = first.headers["etag"]
    again = gateway.get(f"/snippets/{snippet['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""

    gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json={"title": "Renamed"})
    changed = gateway.get(f"/snippets/{snippet['id']}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_a_private_snippet_gives_no_304_to_others(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    private = create(gateway, alice, visibility="private")
    etag = gateway.get(f"/snippets/{private['id']}", headers=alice.auth).headers["etag"]
    assert_error(gateway.get(f"/snippets/{private['id']}", headers={"If-None-Match": etag}), 404, "NOT_FOUND")


async def test_an_author_the_users_service_does_not_know_is_shown_blank(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    ghost = str(uuid.uuid4())
    auth = {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(ghost)}"}
    snippet = gateway.post("/snippets", headers=auth, json={"title": "t", "code": "x"}).json()
    assert snippet["author"] == {"id": ghost, "username": "", "full_name": "", "avatar_url": ""}


# -- PATCH /snippets/{id} ---------------------------------------------------------------------


async def test_the_author_patches_only_what_is_sent(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    snippet = create(gateway, alice, description="keep me", tags=["a"])

    resp = gateway.patch(
        f"/snippets/{snippet['id']}", headers=alice.auth, json={"title": "New title", "tags": ["B", "b", "c"]}
    )

    assert resp.status_code == 200, resp.text
    patched = resp.json()
    assert patched["title"] == "New title" and patched["tags"] == ["b", "c"]
    assert patched["description"] == "keep me" and patched["code"] == snippet["code"]
    assert patched["updated_at"] > snippet["updated_at"] and patched["created_at"] == snippet["created_at"]
    cleared = gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json={"description": None})
    assert cleared.json()["description"] == ""
    unchanged = gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json={})
    assert unchanged.status_code == 200 and unchanged.json() == cleared.json()


async def test_new_code_is_detected_again_unless_the_author_named_the_language(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    go = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tx := 1\n\tfmt.Println(x)\n}\n'
    detected = create(gateway, alice)
    named = create(gateway, alice, language="python")
    assert detected["language"] == named["language"] == "python"
    for s in (detected, named):
        gateway.patch(f"/snippets/{s['id']}", headers=alice.auth, json={"code": go})
    assert gateway.get(f"/snippets/{detected['id']}").json()["language"] == "go"
    assert gateway.get(f"/snippets/{named['id']}").json()["language"] == "python"


async def test_others_get_403_when_they_can_see_it_and_404_when_they_cannot(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice, visibility="public")
    unlisted = create(gateway, alice, visibility="unlisted")
    private = create(gateway, alice, visibility="private")

    for snippet in (public, unlisted):
        assert_error(
            gateway.patch(f"/snippets/{snippet['id']}", headers=bob.auth, json={"title": "x"}),
            403,
            "FORBIDDEN",
        )
        assert_error(gateway.delete(f"/snippets/{snippet['id']}", headers=bob.auth), 403, "FORBIDDEN")
    assert_error(
        gateway.patch(f"/snippets/{private['id']}", headers=bob.auth, json={"title": "x"}), 404, "NOT_FOUND"
    )
    assert_error(gateway.delete(f"/snippets/{private['id']}", headers=bob.auth), 404, "NOT_FOUND")
    assert_error(gateway.patch(f"/snippets/{public['id']}", json={"title": "x"}), 401, "UNAUTHORIZED")
    assert_error(gateway.delete(f"/snippets/{public['id']}"), 401, "UNAUTHORIZED")
    for snippet in (public, unlisted, private):
        assert gateway.get(f"/snippets/{snippet['id']}", headers=alice.auth).json()["title"] == "A snippet"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"code": None}, "code"),
        ({"visibility": None}, "visibility"),
        ({"title": ""}, "title"),
        ({"tags": ["bad tag"]}, "tags"),
        ({"language": "klingon"}, "language"),
        ({"author_id": str(uuid.uuid4())}, "author_id"),
        ({"likes_count": 1000}, "likes_count"),
    ],
)
async def test_bad_patches_are_400_and_change_nothing(
    fleet: RunningFleet, gateway: httpx.Client, body: dict, field: str
) -> None:
    alice = await member(fleet)
    snippet = create(gateway, alice)
    error = assert_error(
        gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json=body), 400, "VALIDATION_ERROR"
    )
    assert field in [d["field"] for d in error["error"]["details"]]
    assert gateway.get(f"/snippets/{snippet['id']}").json() == snippet


# -- DELETE /snippets/{id} --------------------------------------------------------------------


async def test_the_author_deletes(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    snippet = create(gateway, alice)
    resp = gateway.delete(f"/snippets/{snippet['id']}", headers=alice.auth)
    assert resp.status_code == 204 and resp.content == b""
    assert_error(gateway.get(f"/snippets/{snippet['id']}"), 404, "NOT_FOUND")
    assert_error(gateway.delete(f"/snippets/{snippet['id']}", headers=alice.auth), 404, "NOT_FOUND")


# -- GET /snippets ----------------------------------------------------------------------------


async def test_lists_show_public_snippets_only(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    t = tag()
    public = create(gateway, alice, tags=[t])
    create(gateway, alice, tags=[t], visibility="unlisted")
    create(gateway, alice, tags=[t], visibility="private")
    for viewer in ({}, alice.auth):  # not even the author sees them in the public list
        resp = gateway.get("/snippets", params={"tag": t}, headers=viewer)
        assert ids(resp) == [public["id"]]
        item = resp.json()["data"][0]
        assert "code" not in item and item["code_preview"] == PY_CODE.rstrip("\n")
        assert item["author"]["username"] == alice.username
    assert ids(gateway.get("/snippets", params={"author": alice.username})) == [public["id"]]


async def test_filters_combine(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    t, u = tag(), tag()
    py_tu = create(gateway, alice, tags=[t, u], language="python")
    py_t = create(gateway, alice, tags=[t], language="python")
    go_tu = create(gateway, alice, tags=[t, u], language="go")
    bob_py_tu = create(gateway, bob, tags=[t, u], language="python")
    for hidden in ("private", "unlisted"):  # match every filter, yet never listed
        create(gateway, alice, tags=[t, u], language="python", visibility=hidden)

    def listed(**params: object) -> list[str]:
        return ids(gateway.get("/snippets", params=params))

    assert listed(tag=t) == [bob_py_tu["id"], go_tu["id"], py_t["id"], py_tu["id"]]
    assert listed(tag=[t, u]) == [bob_py_tu["id"], go_tu["id"], py_tu["id"]]  # every tag must match
    assert listed(tag=[t, u], language="python") == [bob_py_tu["id"], py_tu["id"]]
    assert listed(tag=[t, u], language="Python", author=alice.username) == [py_tu["id"]]
    assert listed(tag=[t.upper()], author=bob.username.upper()) == [bob_py_tu["id"]]
    assert listed(tag=[t, tag()]) == []
    assert listed(tag=t, author="nobody-by-this-name") == []


async def test_popular_sort_is_likes_then_newest(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    t = tag()
    made = [create(gateway, alice, tags=[t])["id"] for _ in range(3)]
    # No likes until the social service exists: ties on likes_count fall back to newest first.
    resp = gateway.get("/snippets", params={"tag": t, "sort": "popular", "limit": 2})
    assert ids(resp) == [made[2], made[1]]
    rest = gateway.get(
        "/snippets", params={"tag": t, "sort": "popular", "cursor": resp.json()["pagination"]["next_cursor"]}
    )
    assert ids(rest) == [made[0]]


async def test_paging_25_items_in_pages_of_10_while_inserting(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    existing = [create(gateway, alice, tags=[t], title=f"n{i}")["id"] for i in range(25)]

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, object] = {"tag": t, "limit": 10}
        if cursor:
            params["cursor"] = cursor
        resp = gateway.get("/snippets", params=params)
        body = resp.json()
        seen += ids(resp)
        pages += 1
        # Someone shares two more while we page.
        create(gateway, alice, tags=[t], title="late")
        create(gateway, alice, tags=[t], title="late")
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["limit"] == 10
        if cursor is None:
            assert "link" not in resp.headers
            break
        assert resp.headers["link"].startswith("</api/v1/snippets?") and 'rel="next"' in resp.headers["link"]
        assert f"tag={t}" in resp.headers["link"]

    assert pages == 3
    assert len(seen) == len(set(seen)) == 25  # no repeats
    assert seen == list(reversed(existing))  # no gaps, newest first


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"cursor": "%%%garbage"},
        {"cursor": "e30"},  # {}
        {"cursor": "eyJvIjoicmVjZW50IiwidCI6Im5vdC1hLWRhdGUiLCJpIjoieCJ9"},  # right keys, bad values
        {"sort": "oldest"},
        {"language": "klingon"},
        {"tag": "no spaces allowed"},
    ],
)
async def test_bad_list_parameters_are_400(gateway: httpx.Client, params: dict) -> None:
    assert_error(gateway.get("/snippets", params=params), 400, "VALIDATION_ERROR")


async def test_a_cursor_of_another_sort_is_400(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    t = tag()
    for _ in range(2):
        create(gateway, alice, tags=[t])
    cursor = gateway.get("/snippets", params={"tag": t, "limit": 1}).json()["pagination"]["next_cursor"]
    assert cursor
    assert_error(
        gateway.get("/snippets", params={"sort": "popular", "cursor": cursor}), 400, "VALIDATION_ERROR"
    )


# -- GET /users/{username}/snippets -----------------------------------------------------------


async def test_the_authors_list_shows_private_ones_only_to_the_author(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice)
    unlisted = create(gateway, alice, visibility="unlisted")
    private = create(gateway, alice, visibility="private")
    create(gateway, bob)

    path = f"/users/{alice.username}/snippets"
    assert ids(gateway.get(path)) == [public["id"]]
    assert ids(gateway.get(path, headers=bob.auth)) == [public["id"]]
    assert ids(gateway.get(path, headers=alice.auth)) == [private["id"], unlisted["id"], public["id"]]
    first = gateway.get(path, headers=alice.auth, params={"limit": 2})
    assert ids(first) == [private["id"], unlisted["id"]]
    rest = gateway.get(
        path, headers=alice.auth, params={"limit": 2, "cursor": first.json()["pagination"]["next_cursor"]}
    )
    assert ids(rest) == [public["id"]] and rest.json()["pagination"]["next_cursor"] is None
    assert_error(gateway.get("/users/nobody-by-this-name/snippets"), 404, "NOT_FOUND")
    assert_error(gateway.get(path, params={"cursor": "garbage!"}), 400, "VALIDATION_ERROR")


async def test_a_whole_page_of_authors_comes_from_the_read_model(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    # Never one call per row, and for authors already known not even one per page: each create
    # answered its author, so the read model (codegram_content.authors) holds them all.
    people = [await member(fleet, f"p{i}") for i in range(4)]
    t = tag()
    for who in people:
        create(gateway, who, tags=[t])
    before = fleet.log("users").count("GetUsers")
    listed = gateway.get("/snippets", params={"tag": t}).json()["data"]
    assert {s["author"]["username"] for s in listed} == {p.username for p in people}
    assert fleet.log("users").count("GetUsers") - before == 0


# -- search (internal, for the gateway's /api/v1/search) --------------------------------------


async def test_search_is_code_aware(fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client) -> None:
    alice = await member(fleet)
    t = tag()
    camel = create(
        gateway, alice, tags=[t], title="Reader", code="function parseJSONLine(s) {\n  return s;\n}\n"
    )
    snake = create(gateway, alice, tags=[t], title="Other", code="def parse_json_line(s):\n    return s\n")

    def found(q: str) -> list[str]:
        return ids(search.get("/search", params={"q": q, "tag": t}))

    assert set(found("parseJSON")) == {camel["id"], snake["id"]}
    assert set(found("json line")) == {camel["id"], snake["id"]}
    assert found("parseJSONLine") and set(found("parse_json_line")) == {camel["id"], snake["id"]}
    assert found("parseYAML") == []
    assert found("reader") == [camel["id"]]
    assert set(found('"json line"')) == {camel["id"], snake["id"]}  # a phrase over the parts
    assert found('"line json"') == []
    assert found("json -reader") == [snake["id"]]  # exclusion
    assert set(found("reader or other")) == {camel["id"], snake["id"]}


async def test_search_hits_carry_score_cursor_item_and_safe_highlights(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    in_title = create(gateway, alice, tags=[t], title="Quicksort in place", code="x = 1\n" * 5)
    in_code = create(
        gateway, alice, tags=[t], title="Sorting", code="<b>bold</b>\ndef quicksort(xs):\n    return xs\n"
    )

    resp = search.get("/search", params={"q": "quicksort", "tag": t})

    assert resp.status_code == 200, resp.text
    hits = resp.json()["data"]
    assert [h["id"] for h in hits] == [in_title["id"], in_code["id"]]  # the title weighs more
    assert hits[0]["score"] > hits[1]["score"] > 0
    assert hits[0]["highlights"]["title"] == ["<mark>Quicksort</mark> in place"]
    assert any("<mark>quicksort</mark>" in f for f in hits[1]["highlights"]["code"])
    assert all("<b>" not in f for f in hits[1]["highlights"]["code"])  # the code's own markup is escaped
    assert hits[1]["item"]["id"] == in_code["id"] and "code_preview" in hits[1]["item"]
    assert hits[1]["item"]["author"]["username"] == alice.username
    assert hits[0]["created_at"] == in_title["created_at"]
    # Deterministic: the same query scores the same rows the same.
    assert search.get("/search", params={"q": "quicksort", "tag": t}).json() == resp.json()


async def test_search_pages_with_each_hits_cursor(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    for i in range(7):
        create(gateway, alice, tags=[t], title="pager" if i % 2 else "other", code=f"pager = {i}\n")
    everything = search.get("/search", params={"q": "pager", "tag": t, "limit": 100}).json()["data"]
    assert len(everything) == 7

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"q": "pager", "tag": t, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = search.get("/search", params=params).json()["data"]
        seen += [h["id"] for h in page]
        if len(page) < 3:
            break
        cursor = page[-1]["cursor"]
    assert seen == [h["id"] for h in everything]
    # Score first, then newest, then id: every adjacent pair is in that order.
    keys = [(h["score"], h["created_at"], h["id"]) for h in everything]
    assert all(a > b for a, b in itertools.pairwise(keys))


async def test_search_never_shows_private_or_unlisted(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    word = f"zq{uuid.uuid4().hex[:8]}"
    public = create(gateway, alice, tags=[t], title=word)
    create(gateway, alice, tags=[t], title=word, visibility="unlisted")
    create(gateway, alice, tags=[t], title=word, visibility="private")
    assert ids(search.get("/search", params={"q": word})) == [public["id"]]
    assert ids(search.get("/search", params={"q": word}, headers=alice.auth)) == [public["id"]]


async def test_search_follows_edits_and_deletes(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    old, new = f"zq{uuid.uuid4().hex[:8]}", f"zq{uuid.uuid4().hex[:8]}"
    snippet = create(gateway, alice, title=old, visibility="private")
    assert ids(search.get("/search", params={"q": old})) == []
    gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json={"visibility": "public"})
    assert ids(search.get("/search", params={"q": old})) == [snippet["id"]]
    gateway.patch(f"/snippets/{snippet['id']}", headers=alice.auth, json={"title": new})
    assert ids(search.get("/search", params={"q": old})) == []
    assert ids(search.get("/search", params={"q": new})) == [snippet["id"]]
    gateway.delete(f"/snippets/{snippet['id']}", headers=alice.auth)
    assert ids(search.get("/search", params={"q": new})) == []


async def test_search_filters_by_language_and_every_tag(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t, u = tag(), tag()
    word = f"zq{uuid.uuid4().hex[:8]}"
    py = create(gateway, alice, tags=[t, u], title=word, language="python")
    create(gateway, alice, tags=[t], title=word, language="python")
    create(gateway, alice, tags=[t, u], title=word, language="go")
    assert ids(search.get("/search", params={"q": word, "tag": [t, u], "language": "py"})) == [py["id"]]


@pytest.mark.parametrize(
    "q",
    [
        '"unclosed quote',
        '"" "" ""',
        "-",
        "--- -a -b",
        "a & b | !c <-> d:*",
        "(((",
        "'; DROP TABLE snippets.snippets; --",
        "SELECT * FROM pg_catalog.pg_user",
        "a\x00b",
        "\x00",
        "😀 🚀 ✨",
        "x" * 500,
        "word " * 100,
        "\\\\ \\' \\",
        "or or or",
        'or -or "or"',
        "café naïve Größe 日本語",
    ],
)
async def test_hostile_queries_never_500(search: httpx.Client, q: str) -> None:
    resp = search.get("/search", params={"q": q})
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 200:
        assert isinstance(resp.json()["data"], list)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 501},
        {"q": "x" * 2000},
        {"q": "x", "limit": 0},
        {"q": "x", "limit": 101},
        {"q": "x", "cursor": "garbage!"},
        {"q": "x", "cursor": "e30"},
        {"q": "x", "language": "klingon"},
    ],
)
async def test_bad_search_parameters_are_400_in_the_envelope(search: httpx.Client, params: dict) -> None:
    assert_error(search.get("/search", params=params), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("q", ["", "   "])
async def test_a_blank_query_finds_nothing(search: httpx.Client, q: str) -> None:
    resp = search.get("/search", params={"q": q})
    assert resp.status_code == 200 and resp.json() == {"data": []}


async def test_a_nul_in_the_query_is_400(search: httpx.Client) -> None:
    # Refused before any handler, as in every query string of every service.
    assert_error(search.get("/search", params={"q": "\x00"}), 400, "VALIDATION_ERROR")


def test_internal_search_is_not_routed_by_the_gateway(fleet: RunningFleet) -> None:
    resp = httpx.get(f"{fleet.gateway_url}/internal/v1/search", params={"q": "x"})
    assert resp.status_code == 404


# -- events and gRPC --------------------------------------------------------------------------


async def test_changes_publish_created_updated_and_deleted_events(
    fleet: RunningFleet, gateway: httpx.Client, subscribe
) -> None:
    alice = await member(fleet)
    collect = await subscribe("codegram.snippets.snippet.>")
    snippet = await asyncio.to_thread(create, gateway, alice, tags=["ev"], visibility="unlisted")
    sid = snippet["id"]
    await asyncio.to_thread(
        gateway.patch, f"/snippets/{sid}", headers=alice.auth, json={"visibility": "public", "title": "Evt"}
    )
    await asyncio.to_thread(
        gateway.patch, f"/snippets/{sid}", headers=alice.auth, json={"title": "Evt"}
    )  # no-op
    await asyncio.to_thread(gateway.delete, f"/snippets/{sid}", headers=alice.auth)

    def mine(msg) -> bool:  # type: ignore[no-untyped-def]
        kind = msg.subject.rsplit(".", 1)[1]
        cls = {"created": events_pb2.SnippetCreated, "updated": events_pb2.SnippetUpdated,
               "deleted": events_pb2.SnippetDeleted}[kind]  # fmt: skip
        return cls.FromString(msg.data).snippet.snippet_id == sid

    msgs = await collect(mine, 1.5)
    assert [m.subject for m in msgs] == [
        "codegram.snippets.snippet.created",
        "codegram.snippets.snippet.updated",
        "codegram.snippets.snippet.deleted",
    ]
    created = events_pb2.SnippetCreated.FromString(msgs[0].data)
    assert created.snippet.author_id == alice.id and created.snippet.visibility == "unlisted"
    assert list(created.snippet.tags) == ["ev"] and created.snippet.language == "python"
    updated = events_pb2.SnippetUpdated.FromString(msgs[1].data)
    assert sorted(updated.changed_fields) == ["title", "visibility"]
    assert updated.previous_visibility == "unlisted" and updated.snippet.visibility == "public"
    assert msgs[1].headers["CodeGram-Event-Type"] == "codegram.events.v1.SnippetUpdated"
    assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == 3


async def test_a_users_snippet_count_counts_public_snippets_only(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)

    async def count_becomes(expected: int) -> None:
        count = None
        for _ in range(50):  # the users service learns from events, within moments
            count = gateway.get(f"/users/{alice.username}").json()["stats"]["snippets"]
            if count == expected:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"stats.snippets is {count}, expected {expected}")

    public = create(gateway, alice)
    private = create(gateway, alice, visibility="private")
    create(gateway, alice, visibility="unlisted")
    await count_becomes(1)
    gateway.patch(f"/snippets/{private['id']}", headers=alice.auth, json={"visibility": "public"})
    await count_becomes(2)
    gateway.delete(f"/snippets/{public['id']}", headers=alice.auth)
    gateway.patch(f"/snippets/{private['id']}", headers=alice.auth, json={"visibility": "unlisted"})
    await count_becomes(0)


async def test_grpc_get_snippets_answers_visibility_and_author(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    public = create(gateway, alice, title="pub")
    private = create(gateway, alice, title="priv", visibility="private")
    async with create_channel(fleet.grpc_target("snippets")) as channel:
        stub = snippets_pb2_grpc.SnippetsServiceStub(channel)
        reply = await stub.GetSnippets(
            snippets_pb2.GetSnippetsRequest(ids=[public["id"], private["id"], str(uuid.uuid4()), "nope"])
        )
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetSnippets(
                snippets_pb2.GetSnippetsRequest(ids=[str(uuid.uuid4()) for _ in range(501)])
            )
    found = {s.id: s for s in reply.snippets}
    assert set(found) == {public["id"], private["id"]}
    assert found[private["id"]].visibility == "private" and found[private["id"]].author_id == alice.id
    assert found[public["id"]].title == "pub" and found[public["id"]].created_at.seconds > 0
    assert err.value.code().name == "INVALID_ARGUMENT"
