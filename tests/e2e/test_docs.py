"""The docs endpoints of API.md, driven through the real gateway, docs and users services, Postgres
and NATS; the internal search the gateway fans out to; events; the gRPC batch read."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import httpx
import pytest
from grpc import aio

from codegram_devstack.e2e import Member, assert_error, ids, member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.docs.v1 import docs_pb2, docs_pb2_grpc
from codegram_proto.codegram.events.v1 import docs_pb2 as events_pb2

MARKDOWN = "# Intro\n\nSome **bold** text.\n\n```python\ndef add(a, b):\n    return a + b\n```\n"


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def search(fleet: RunningFleet) -> httpx.Client:
    """The docs service's internal search, called as the gateway's /api/v1/search calls it."""
    with httpx.Client(base_url=fleet.http_url("docs") + "/internal/v1", timeout=15) as client:
        yield client


def create(gateway: httpx.Client, who: Member, **body: object) -> dict:
    body.setdefault("title", "A doc")
    body.setdefault("content", MARKDOWN)
    resp = gateway.post("/docs", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


class Markup(HTMLParser):
    """The real elements of an HTML fragment: escaped text stays text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]


# -- POST /docs -------------------------------------------------------------------------------


async def test_create_answers_201_with_location_slug_html_and_author(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet, "alice")
    resp = gateway.post(
        "/docs",
        headers=alice.auth,
        json={
            "title": "  Hello, World! ",
            "description": "a first page",
            "content": MARKDOWN,
            "tags": [" Python ", "python", "Guide"],
        },
    )

    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert resp.headers["location"] == f"/api/v1/docs/{doc['id']}"
    assert (doc["title"], doc["slug"], doc["description"]) == ("Hello, World!", "hello-world", "a first page")
    assert doc["content"] == MARKDOWN and doc["tags"] == ["python", "guide"]
    assert doc["content_html"].startswith("<h1>Intro</h1>\n<p>Some <strong>bold</strong> text.</p>")
    assert '<pre><code class="language-python"><span class="k">def</span>' in doc["content_html"]
    assert doc["visibility"] == "public"
    assert doc["author"] == {
        "id": alice.id,
        "username": alice.username,
        "full_name": "alice Person",
        "avatar_url": "",
    }
    assert (doc["likes_count"], doc["comments_count"], doc["liked_by_me"]) == (0, 0, False)
    assert doc["created_at"].endswith("Z") and doc["updated_at"] == doc["created_at"]
    assert gateway.get(resp.headers["location"].removeprefix("/api/v1")).json() == doc
    assert gateway.get(f"/users/{alice.username}/docs/hello-world").json() == doc


async def test_create_needs_a_token(gateway: httpx.Client) -> None:
    assert_error(gateway.post("/docs", json={"title": "t", "content": "x"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "x"}, "title"),
        ({"title": "t"}, "content"),
        ({"title": "t", "content": "  \n "}, "content"),
        ({"title": "t", "content": "x" * (512 * 1024 + 1)}, "content"),
        ({"title": "t", "content": "é" * (256 * 1024 + 1)}, "content"),  # 512 KiB is bytes
        ({"title": "t", "content": "x", "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"title": "t", "content": "x", "tags": ["no spaces"]}, "tags"),
        ({"title": "t", "content": "x", "visibility": "secret"}, "visibility"),
        ({"title": "t", "content": "x", "slug": "my-own-slug"}, "slug"),
        ({"title": "t", "content": "x", "content_html": "<script>"}, "content_html"),
        ({"title": "t\x00", "content": "x"}, "title"),
        ({"title": "t", "content": "x\x00"}, "content"),
        ({"title": "x" * 201, "content": "x"}, "title"),
    ],
)
async def test_bad_bodies_are_400_and_create_nothing(
    fleet: RunningFleet, gateway: httpx.Client, body: dict, field: str
) -> None:
    alice = await member(fleet)
    error = assert_error(gateway.post("/docs", headers=alice.auth, json=body), 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["error"]["details"]]
    assert ids(gateway.get(f"/users/{alice.username}/docs", headers=alice.auth)) == []


async def test_exactly_512_kib_of_markdown_is_accepted(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    content = ("Plain words in a long page, and `code_spans` too.\n\n" * 11000)[: 512 * 1024]
    doc = create(gateway, alice, content=content)
    got = gateway.get(f"/docs/{doc['id']}").json()
    assert len(got["content"]) == 512 * 1024 and got["content_html"].startswith("<p>Plain words")


# -- markdown: rendered and sanitised -----------------------------------------------------------


async def test_markdown_that_would_take_minutes_to_render_is_stored_plain_in_seconds(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    # markdown-it-py (4.0) is superlinear on runs of underscore emphasis openers (28 s for 160,000
    # characters here; unclosed brackets, once quadratic, now render in linear time); the render
    # deadline (6 s) cuts it short.
    alice = await member(fleet)
    started = time.monotonic()
    doc = create(gateway, alice, content="_a" * 200_000)
    assert time.monotonic() - started < 10
    assert doc["content_html"] == "<pre>" + "_a" * 200_000 + "</pre>"


async def test_xss_attempts_in_markdown_are_neutralised(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    attacks = "\n\n".join(
        [
            "<script>alert('s')</script>",
            '<img src=x onerror="alert(1)">',
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "<javascript:alert(1)>",
            '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
            "[data](data:text/html,<script>alert(1)</script>)",
            "![svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
            "<svg onload=alert(1)><circle/></svg>",
            '<iframe src="https://evil.example"></iframe>',
            '<div style="position:fixed" onclick="x()">raw html</div>',
            '```python" onmouseover="alert(1)\nx = 1\n```',
            "[fine](https://example.com)",
        ]
    )
    doc = create(gateway, alice, content=attacks)
    markup = Markup(doc["content_html"])

    assert set(markup.tags) <= {"p", "a", "img", "pre", "code", "span"}, markup.tags
    for tag_name, name, value in markup.attrs:
        assert not name.startswith("on"), (tag_name, name, value)
        assert name != "style", (tag_name, name, value)
        assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), (
            tag_name,
            name,
            value,
        )
    links = [(n, v) for t, n, v in markup.attrs if t == "a"]
    assert ("href", "https://example.com") in links and ("rel", "nofollow noopener") in links
    assert "&lt;script&gt;" in doc["content_html"]  # raw HTML is shown as text, not passed through


async def test_editing_the_content_renders_it_again(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    doc = create(gateway, alice)
    patched = gateway.patch(
        f"/docs/{doc['id']}", headers=alice.auth, json={"content": "~~old~~ *new*"}
    ).json()
    assert patched["content_html"] == "<p><s>old</s> <em>new</em></p>\n"


# -- GET /docs/{id} and /users/{username}/docs/{slug} -----------------------------------------


async def test_visibility_by_id_and_by_slug(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice, title="Open")
    unlisted = create(gateway, alice, title="Link only", visibility="unlisted")
    private = create(gateway, alice, title="My secret", visibility="private", content="secret words")

    for doc in (public, unlisted):
        for viewer in ({}, bob.auth, alice.auth):
            assert gateway.get(f"/docs/{doc['id']}", headers=viewer).status_code == 200
            assert (
                gateway.get(f"/users/{alice.username}/docs/{doc['slug']}", headers=viewer).status_code == 200
            )
    for path in (f"/docs/{private['id']}", f"/users/{alice.username}/docs/{private['slug']}"):
        hidden = assert_error(gateway.get(path), 404, "NOT_FOUND")
        assert "secret" not in str(hidden).lower()
        assert_error(gateway.get(path, headers=bob.auth), 404, "NOT_FOUND")
        assert gateway.get(path, headers=alice.auth).json()["content"] == "secret words"
    # A private doc is answered exactly like one that never existed.
    assert_error(gateway.get(f"/docs/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert_error(gateway.get("/docs/not-an-id"), 404, "NOT_FOUND")
    assert_error(gateway.get(f"/users/{alice.username}/docs/no-such-slug"), 404, "NOT_FOUND")
    for odd in ("a%00b", "%F0%9F%9A%80", "a--b", "-a", "a_b", "x" * 101):
        assert gateway.get(f"/users/{alice.username}/docs/{odd}").status_code in (400, 404)
    assert gateway.get("/users/a%00b/docs").status_code in (400, 404)
    assert_error(gateway.get(f"/users/nobody-by-this-name/docs/{public['slug']}"), 404, "NOT_FOUND")
    assert_error(gateway.get(f"/users/{bob.username}/docs/{public['slug']}"), 404, "NOT_FOUND")


async def test_etag_answers_304_by_id_and_slug_and_changes_with_the_doc(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    doc = create(gateway, alice)
    by_slug = f"/users/{alice.username}/docs/{doc['slug']}"
    for path in (f"/docs/{doc['id']}", by_slug):
        etag = gateway.get(path).headers["etag"]
        again = gateway.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""

    etag = gateway.get(f"/docs/{doc['id']}").headers["etag"]
    gateway.patch(f"/docs/{doc['id']}", headers=alice.auth, json={"title": "Renamed"})
    for path in (f"/docs/{doc['id']}", by_slug):
        changed = gateway.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_a_private_doc_gives_no_304_to_others(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    private = create(gateway, alice, visibility="private")
    etag = gateway.get(f"/docs/{private['id']}", headers=alice.auth).headers["etag"]
    assert_error(gateway.get(f"/docs/{private['id']}", headers={"If-None-Match": etag}), 404, "NOT_FOUND")


# -- slugs ------------------------------------------------------------------------------------


async def test_slugs_are_unique_per_author_and_stable(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    first = create(gateway, alice, title="Hello World")
    second = create(gateway, alice, title="hello, world!", visibility="private")
    third = create(gateway, alice, title="Hello World")
    other = create(gateway, bob, title="Hello World")
    assert [first["slug"], second["slug"], third["slug"]] == ["hello-world", "hello-world-2", "hello-world-3"]
    assert other["slug"] == "hello-world"  # unique per author, not globally

    # The slug is kept when the title changes, so links to the doc keep working.
    renamed = gateway.patch(f"/docs/{first['id']}", headers=alice.auth, json={"title": "Goodbye"}).json()
    assert renamed["slug"] == "hello-world" and renamed["title"] == "Goodbye"
    assert gateway.get(f"/users/{alice.username}/docs/hello-world").json()["id"] == first["id"]
    assert gateway.get(f"/users/{alice.username}/docs/HELLO-WORLD").json()["id"] == first["id"]
    # A deleted doc's slug is free again.
    gateway.delete(f"/docs/{third['id']}", headers=alice.auth)
    assert create(gateway, alice, title="Hello World")["slug"] == "hello-world-3"
    assert create(gateway, alice, title="日本語のタイトル")["slug"] == "doc"


async def test_concurrent_creates_with_one_title_get_distinct_slugs(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda _: create(gateway, alice, title="Race Day"), range(6)))
    assert sorted(d["slug"] for d in made) == sorted(["race-day"] + [f"race-day-{n}" for n in range(2, 7)])


# -- PATCH and DELETE /docs/{id} --------------------------------------------------------------


async def test_the_author_patches_only_what_is_sent(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    doc = create(gateway, alice, description="keep me", tags=["a"])

    resp = gateway.patch(
        f"/docs/{doc['id']}", headers=alice.auth, json={"title": "New title", "tags": ["B", "b"]}
    )

    assert resp.status_code == 200, resp.text
    patched = resp.json()
    assert patched["title"] == "New title" and patched["tags"] == ["b"]
    assert patched["description"] == "keep me" and patched["content_html"] == doc["content_html"]
    assert patched["updated_at"] > doc["updated_at"] and patched["created_at"] == doc["created_at"]
    cleared = gateway.patch(f"/docs/{doc['id']}", headers=alice.auth, json={"description": None})
    assert cleared.json()["description"] == ""
    unchanged = gateway.patch(f"/docs/{doc['id']}", headers=alice.auth, json={})
    assert unchanged.status_code == 200 and unchanged.json() == cleared.json()


async def test_others_get_403_when_they_can_see_it_and_404_when_they_cannot(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice, visibility="public")
    unlisted = create(gateway, alice, visibility="unlisted")
    private = create(gateway, alice, visibility="private")

    for doc in (public, unlisted):
        assert_error(
            gateway.patch(f"/docs/{doc['id']}", headers=bob.auth, json={"title": "x"}), 403, "FORBIDDEN"
        )
        assert_error(gateway.delete(f"/docs/{doc['id']}", headers=bob.auth), 403, "FORBIDDEN")
    assert_error(
        gateway.patch(f"/docs/{private['id']}", headers=bob.auth, json={"title": "x"}), 404, "NOT_FOUND"
    )
    assert_error(gateway.delete(f"/docs/{private['id']}", headers=bob.auth), 404, "NOT_FOUND")
    assert_error(gateway.patch(f"/docs/{public['id']}", json={"title": "x"}), 401, "UNAUTHORIZED")
    assert_error(gateway.delete(f"/docs/{public['id']}"), 401, "UNAUTHORIZED")
    for doc in (public, unlisted, private):
        assert gateway.get(f"/docs/{doc['id']}", headers=alice.auth).json()["title"] == "A doc"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"content": None}, "content"),
        ({"visibility": None}, "visibility"),
        ({"title": ""}, "title"),
        ({"content": "x" * (512 * 1024 + 1)}, "content"),
        ({"tags": ["bad tag"]}, "tags"),
        ({"slug": "new-slug"}, "slug"),
        ({"author_id": str(uuid.uuid4())}, "author_id"),
        ({"likes_count": 1000}, "likes_count"),
    ],
)
async def test_bad_patches_are_400_and_change_nothing(
    fleet: RunningFleet, gateway: httpx.Client, body: dict, field: str
) -> None:
    alice = await member(fleet)
    doc = create(gateway, alice)
    error = assert_error(
        gateway.patch(f"/docs/{doc['id']}", headers=alice.auth, json=body), 400, "VALIDATION_ERROR"
    )
    assert field in [d["field"] for d in error["error"]["details"]]
    assert gateway.get(f"/docs/{doc['id']}").json() == doc


async def test_the_author_deletes(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    doc = create(gateway, alice)
    resp = gateway.delete(f"/docs/{doc['id']}", headers=alice.auth)
    assert resp.status_code == 204 and resp.content == b""
    assert_error(gateway.get(f"/docs/{doc['id']}"), 404, "NOT_FOUND")
    assert_error(gateway.get(f"/users/{alice.username}/docs/{doc['slug']}"), 404, "NOT_FOUND")
    assert_error(gateway.delete(f"/docs/{doc['id']}", headers=alice.auth), 404, "NOT_FOUND")


# -- GET /docs --------------------------------------------------------------------------------


async def test_lists_show_public_docs_only_without_content(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    public = create(gateway, alice, tags=[t])
    create(gateway, alice, tags=[t], visibility="unlisted")
    create(gateway, alice, tags=[t], visibility="private")
    for viewer in ({}, alice.auth):  # not even the author sees them in the public list
        resp = gateway.get("/docs", params={"tag": t}, headers=viewer)
        assert ids(resp) == [public["id"]]
        item = resp.json()["data"][0]
        assert "content" not in item and "content_html" not in item
        assert item["slug"] == public["slug"] and item["author"]["username"] == alice.username
    assert ids(gateway.get("/docs", params={"author": alice.username})) == [public["id"]]


async def test_filters_combine(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    t, u = tag(), tag()
    tu = create(gateway, alice, tags=[t, u])
    only_t = create(gateway, alice, tags=[t])
    bob_tu = create(gateway, bob, tags=[t, u])
    for hidden in ("private", "unlisted"):  # match every filter, yet never listed
        create(gateway, alice, tags=[t, u], visibility=hidden)

    def listed(**params: object) -> list[str]:
        return ids(gateway.get("/docs", params=params))

    assert listed(tag=t) == [bob_tu["id"], only_t["id"], tu["id"]]
    assert listed(tag=[t, u]) == [bob_tu["id"], tu["id"]]  # every tag must match
    assert listed(tag=[t, u], author=alice.username) == [tu["id"]]
    assert listed(tag=[t.upper()], author=bob.username.upper()) == [bob_tu["id"]]
    assert listed(tag=[t, tag()]) == []
    assert listed(tag=t, author="nobody-by-this-name") == []


async def test_popular_sort_is_likes_then_newest(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    t = tag()
    made = [create(gateway, alice, tags=[t])["id"] for _ in range(3)]
    resp = gateway.get("/docs", params={"tag": t, "sort": "popular", "limit": 2})
    assert ids(resp) == [made[2], made[1]]
    cursor = resp.json()["pagination"]["next_cursor"]
    assert ids(gateway.get("/docs", params={"tag": t, "sort": "popular", "cursor": cursor})) == [made[0]]
    assert_error(gateway.get("/docs", params={"tag": t, "cursor": cursor}), 400, "VALIDATION_ERROR")


async def test_paging_25_items_in_pages_of_10_while_inserting(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    existing = [create(gateway, alice, tags=[t], title=f"n{i}", content=f"page {i}")["id"] for i in range(25)]

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, object] = {"tag": t, "limit": 10}
        if cursor:
            params["cursor"] = cursor
        resp = gateway.get("/docs", params=params)
        body = resp.json()
        seen += ids(resp)
        pages += 1
        # Someone publishes two more while we page.
        create(gateway, alice, tags=[t], title="late", content="late")
        create(gateway, alice, tags=[t], title="late", content="late")
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["limit"] == 10
        if cursor is None:
            assert "link" not in resp.headers
            break
        assert resp.headers["link"].startswith("</api/v1/docs?") and 'rel="next"' in resp.headers["link"]
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
        {"tag": "no spaces allowed"},
    ],
)
async def test_bad_list_parameters_are_400(gateway: httpx.Client, params: dict) -> None:
    assert_error(gateway.get("/docs", params=params), 400, "VALIDATION_ERROR")


# -- GET /users/{username}/docs ---------------------------------------------------------------


async def test_the_authors_list_shows_private_ones_only_to_the_author(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    public = create(gateway, alice)
    unlisted = create(gateway, alice, visibility="unlisted")
    private = create(gateway, alice, visibility="private")
    create(gateway, bob)

    path = f"/users/{alice.username}/docs"
    assert ids(gateway.get(path)) == [public["id"]]
    assert ids(gateway.get(path, headers=bob.auth)) == [public["id"]]
    assert ids(gateway.get(path, headers=alice.auth)) == [private["id"], unlisted["id"], public["id"]]
    first = gateway.get(path, headers=alice.auth, params={"limit": 2})
    assert ids(first) == [private["id"], unlisted["id"]]
    rest = gateway.get(
        path, headers=alice.auth, params={"limit": 2, "cursor": first.json()["pagination"]["next_cursor"]}
    )
    assert ids(rest) == [public["id"]] and rest.json()["pagination"]["next_cursor"] is None
    assert_error(gateway.get("/users/nobody-by-this-name/docs"), 404, "NOT_FOUND")
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
    listed = gateway.get("/docs", params={"tag": t}).json()["data"]
    assert {d["author"]["username"] for d in listed} == {p.username for p in people}
    assert fleet.log("users").count("GetUsers") - before == 0


# -- search (internal, for the gateway's /api/v1/search) --------------------------------------


async def test_search_is_code_aware_in_code_blocks(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    camel = create(
        gateway, alice, tags=[t], title="Reader", content="```js\nfunction parseJSONLine(s) {}\n```"
    )
    snake = create(gateway, alice, tags=[t], title="Other", content="Call `parse_json_line(s)` first.")

    def found(q: str) -> list[str]:
        return ids(search.get("/search", params={"q": q, "tag": t}))

    assert set(found("parseJSON")) == {camel["id"], snake["id"]}
    assert set(found("json line")) == {camel["id"], snake["id"]}
    assert found("parseYAML") == []
    assert found("reader") == [camel["id"]]
    assert found("json -reader") == [snake["id"]]
    assert set(found("reader or other")) == {camel["id"], snake["id"]}


async def test_search_hits_carry_score_cursor_item_and_safe_highlights(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    in_title = create(gateway, alice, tags=[t], title="Quicksort in place", content="Some text.")
    in_description = create(
        gateway, alice, tags=[t], title="Sorting", description="about quicksort", content="x"
    )
    in_content = create(gateway, alice, tags=[t], title="Notes", content="<b>bold</b> and quicksort here")

    resp = search.get("/search", params={"q": "quicksort", "tag": t})

    assert resp.status_code == 200, resp.text
    hits = resp.json()["data"]
    assert [h["id"] for h in hits] == [in_title["id"], in_description["id"], in_content["id"]]
    assert hits[0]["score"] > hits[1]["score"] > hits[2]["score"] > 0
    assert hits[0]["highlights"]["title"] == ["<mark>Quicksort</mark> in place"]
    assert hits[1]["highlights"]["description"] == ["about <mark>quicksort</mark>"]
    (fragment,) = hits[2]["highlights"]["content"]
    assert "bold&lt;/b&gt; and <mark>quicksort</mark> here" in fragment  # the doc's own markup escaped
    item = hits[2]["item"]
    assert item["id"] == in_content["id"] and item["slug"] == "notes" and "content" not in item
    assert item["author"]["username"] == alice.username and hits[0]["created_at"] == in_title["created_at"]
    assert isinstance(hits[0]["cursor"], str)
    assert search.get("/search", params={"q": "quicksort", "tag": t}).json() == resp.json()  # deterministic


async def test_search_pages_with_each_hits_cursor(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t = tag()
    for i in range(7):
        create(gateway, alice, tags=[t], title="pager" if i % 2 else "other", content=f"pager {i}")
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
    keys = [(h["score"], h["created_at"], h["id"]) for h in everything]
    assert all(a > b for a, b in itertools.pairwise(keys))


async def test_search_never_shows_private_or_unlisted_and_follows_edits(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    word, new = f"zq{uuid.uuid4().hex[:8]}", f"zq{uuid.uuid4().hex[:8]}"
    public = create(gateway, alice, title=word)
    create(gateway, alice, title=word, visibility="unlisted")
    private = create(gateway, alice, title="x", content=f"private {word}", visibility="private")
    assert ids(search.get("/search", params={"q": word})) == [public["id"]]
    assert ids(search.get("/search", params={"q": word}, headers=alice.auth)) == [public["id"]]

    gateway.patch(f"/docs/{private['id']}", headers=alice.auth, json={"visibility": "public"})
    assert set(ids(search.get("/search", params={"q": word}))) == {public["id"], private["id"]}
    gateway.patch(f"/docs/{public['id']}", headers=alice.auth, json={"title": new})
    assert ids(search.get("/search", params={"q": new})) == [public["id"]]
    gateway.delete(f"/docs/{public['id']}", headers=alice.auth)
    assert ids(search.get("/search", params={"q": new})) == []


async def test_search_filters_by_every_tag_and_answers_nothing_for_a_language(
    fleet: RunningFleet, gateway: httpx.Client, search: httpx.Client
) -> None:
    alice = await member(fleet)
    t, u = tag(), tag()
    word = f"zq{uuid.uuid4().hex[:8]}"
    both = create(gateway, alice, tags=[t, u], title=word)
    create(gateway, alice, tags=[t], title=word)
    assert ids(search.get("/search", params={"q": word, "tag": [t, u]})) == [both["id"]]
    # Docs have no language: a language-filtered search finds no doc.
    assert search.get("/search", params={"q": word, "language": "python"}).json() == {"data": []}


@pytest.mark.parametrize(
    "q",
    [
        '"unclosed quote',
        '"" "" ""',
        "--- -a -b",
        "a & b | !c <-> d:*",
        "(((",
        "'; DROP TABLE docs.docs; --",
        "SELECT * FROM pg_catalog.pg_user",
        "a\x00b",
        "\x00",
        "😀 🚀 ✨",
        "x" * 500,
        "word " * 100,
        "\\\\ \\' \\",
        'or -or "or"',
        "<script>alert(1)</script>",
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
        {"q": "x", "tag": "no spaces"},
    ],
)
async def test_bad_search_parameters_are_400_in_the_envelope(search: httpx.Client, params: dict) -> None:
    assert_error(search.get("/search", params=params), 400, "VALIDATION_ERROR")


def test_internal_search_is_not_routed_by_the_gateway(fleet: RunningFleet) -> None:
    assert httpx.get(f"{fleet.gateway_url}/internal/v1/search", params={"q": "x"}).status_code == 404


# -- events and gRPC --------------------------------------------------------------------------


async def test_changes_publish_created_updated_and_deleted_events(
    fleet: RunningFleet, gateway: httpx.Client, subscribe
) -> None:
    alice = await member(fleet)
    collect = await subscribe("codegram.docs.doc.>")
    doc = await asyncio.to_thread(create, gateway, alice, title="Evt doc", tags=["ev"], visibility="unlisted")
    did = doc["id"]
    await asyncio.to_thread(
        gateway.patch, f"/docs/{did}", headers=alice.auth, json={"visibility": "public", "content": "new"}
    )
    await asyncio.to_thread(
        gateway.patch, f"/docs/{did}", headers=alice.auth, json={"content": "new"}
    )  # no-op
    await asyncio.to_thread(gateway.delete, f"/docs/{did}", headers=alice.auth)

    def mine(msg) -> bool:  # type: ignore[no-untyped-def]
        kind = msg.subject.rsplit(".", 1)[1]
        cls = {"created": events_pb2.DocCreated, "updated": events_pb2.DocUpdated,
               "deleted": events_pb2.DocDeleted}[kind]  # fmt: skip
        return cls.FromString(msg.data).doc.doc_id == did

    msgs = await collect(mine, 1.5)
    assert [m.subject for m in msgs] == [
        "codegram.docs.doc.created",
        "codegram.docs.doc.updated",
        "codegram.docs.doc.deleted",
    ]
    created = events_pb2.DocCreated.FromString(msgs[0].data)
    assert created.doc.author_id == alice.id and created.doc.visibility == "unlisted"
    assert created.doc.slug == "evt-doc" and list(created.doc.tags) == ["ev"]
    updated = events_pb2.DocUpdated.FromString(msgs[1].data)
    assert sorted(updated.changed_fields) == ["content", "visibility"]
    assert updated.previous_visibility == "unlisted" and updated.doc.visibility == "public"
    assert msgs[1].headers["CodeGram-Event-Type"] == "codegram.events.v1.DocUpdated"
    assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == 3


async def test_grpc_get_docs_answers_visibility_author_and_slug(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice = await member(fleet)
    public = create(gateway, alice, title="Pub")
    private = create(gateway, alice, title="Priv", visibility="private")
    async with create_channel(fleet.grpc_target("docs")) as channel:
        stub = docs_pb2_grpc.DocsServiceStub(channel)
        reply = await stub.GetDocs(
            docs_pb2.GetDocsRequest(ids=[public["id"], private["id"], str(uuid.uuid4()), "nope"])
        )
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetDocs(docs_pb2.GetDocsRequest(ids=[str(uuid.uuid4()) for _ in range(501)]))
    found = {d.id: d for d in reply.docs}
    assert set(found) == {public["id"], private["id"]}
    assert found[private["id"]].visibility == "private" and found[private["id"]].author_id == alice.id
    assert (found[public["id"]].title, found[public["id"]].slug) == ("Pub", "pub")
    assert found[public["id"]].created_at.seconds > 0
    assert err.value.code().name == "INVALID_ARGUMENT"
