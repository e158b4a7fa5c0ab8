"""Likes and comments of API.md "Social" through the gateway: idempotent likes with their counts,
`liked_by_me` and `sort=popular`; comments with their rules and who may delete them; private
content refused everywhere; and what a delete or a visibility change does to them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from codegram_devstack.e2e import Member, assert_error, ids, member, tag
from codegram_devstack.fleet import RunningFleet

PLURAL = {"snippet": "snippets", "doc": "docs"}


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def create(gateway: httpx.Client, who: Member, kind: str, **body: Any) -> dict[str, Any]:
    body.setdefault("title", f"A {kind}")
    if kind == "snippet":
        body.setdefault("code", "print('hello')\n")
    else:
        body.setdefault("content", "# Notes\n\nSome text.\n")
    resp = gateway.post(f"/{PLURAL[kind]}", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def like(
    gateway: httpx.Client, who: Member, kind: str, item_id: str, *, liked: bool = True
) -> httpx.Response:
    method = gateway.put if liked else gateway.delete
    return method(f"/{PLURAL[kind]}/{item_id}/like", headers=who.auth)


async def eventually(read: Any, expected: Any, what: str) -> None:
    """Polls `read()` until it equals `expected` (counters arrive by events, within moments)."""
    value = None
    for _ in range(75):
        value = read()
        if value == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} is {value!r}, expected {expected!r}")


def field(gateway: httpx.Client, path: str, name: str, who: Member | None = None) -> Any:
    resp = gateway.get(path, headers=who.auth if who else None)
    assert resp.status_code == 200, resp.text
    return resp.json()[name]


@pytest.mark.parametrize("kind", ["snippet", "doc"])
async def test_likes_are_idempotent_and_counted(
    fleet: RunningFleet, gateway: httpx.Client, kind: str
) -> None:
    alice, bob, carol = await member(fleet, "alice"), await member(fleet, "bob"), await member(fleet, "carol")
    item = create(gateway, alice, kind)
    path = f"/{PLURAL[kind]}/{item['id']}"

    first = like(gateway, bob, kind, item["id"])
    assert first.status_code == 200, first.text
    assert first.json() == {"liked": True, "likes_count": 1}
    assert like(gateway, bob, kind, item["id"]).json() == {"liked": True, "likes_count": 1}
    assert like(gateway, carol, kind, item["id"]).json() == {"liked": True, "likes_count": 2}

    # The content service learns the count from social's events; liked_by_me from one batched call.
    await eventually(lambda: field(gateway, path, "likes_count"), 2, "likes_count")
    assert field(gateway, path, "liked_by_me", bob) is True
    assert field(gateway, path, "liked_by_me", alice) is False
    assert field(gateway, path, "liked_by_me") is False
    listed = gateway.get(f"/{PLURAL[kind]}", params={"author": alice.username}, headers=bob.auth)
    assert listed.status_code == 200, listed.text
    assert [(i["id"], i["liked_by_me"], i["likes_count"]) for i in listed.json()["data"]] == [
        (item["id"], True, 2)
    ]
    mine = gateway.get(f"/users/{alice.username}/{PLURAL[kind]}", headers=carol.auth).json()["data"]
    assert [i["liked_by_me"] for i in mine] == [True]

    assert like(gateway, bob, kind, item["id"], liked=False).json() == {"liked": False, "likes_count": 1}
    assert like(gateway, bob, kind, item["id"], liked=False).json() == {"liked": False, "likes_count": 1}
    await eventually(lambda: field(gateway, path, "likes_count"), 1, "likes_count")
    assert field(gateway, path, "liked_by_me", bob) is False

    # Unknown ids, and no token.
    assert_error(like(gateway, bob, kind, "00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
    assert_error(like(gateway, bob, kind, "not-an-id"), 404, "NOT_FOUND")
    assert_error(gateway.put(f"{path}/like"), 401, "UNAUTHORIZED")


async def test_popular_follows_the_likes(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet, "alice")
    fans = [await member(fleet, "fan") for _ in range(3)]
    label = tag()
    items = [create(gateway, alice, "snippet", tags=[label], title=f"n{n}") for n in range(3)]
    for fan in fans:
        assert like(gateway, fan, "snippet", items[1]["id"]).status_code == 200
    assert like(gateway, fans[0], "snippet", items[0]["id"]).status_code == 200

    expected = [items[1]["id"], items[0]["id"], items[2]["id"]]

    def popular() -> list[str]:
        return ids(gateway.get("/snippets", params={"tag": label, "sort": "popular"}))

    await eventually(popular, expected, "the popular order")


async def test_comments_rules_order_and_deletion(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob, carol = await member(fleet, "alice"), await member(fleet, "bob"), await member(fleet, "carol")
    doc = create(gateway, alice, "doc")
    path = f"/docs/{doc['id']}/comments"

    for bad in (
        {"body": ""},
        {"body": " \n\t "},
        {"body": "x" * 10_001},
        {"body": 5},
        {},
        {"body": "hi", "x": 1},
    ):
        body = assert_error(gateway.post(path, headers=bob.auth, json=bad), 400, "VALIDATION_ERROR")
        assert body["error"]["details"], bad
    assert_error(gateway.post(path, json={"body": "hi"}), 401, "UNAUTHORIZED")

    longest = gateway.post(path, headers=bob.auth, json={"body": "y" * 10_000})
    assert longest.status_code == 201, longest.text
    written = [longest.json()]
    for n, who in enumerate([carol, bob, alice]):
        resp = gateway.post(path, headers=who.auth, json={"body": f"comment {n} <b>not html</b>"})
        assert resp.status_code == 201, resp.text
        written.append(resp.json())
    assert written[1]["body"] == "comment 0 <b>not html</b>"
    assert written[1]["author"]["username"] == carol.username
    assert set(written[1]) == {"id", "body", "author", "created_at"}

    # Oldest first, page by page, anonymously too.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = gateway.get(path, params=params)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["data"]]
        cursor = page.json()["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in written]
    await eventually(lambda: field(gateway, f"/docs/{doc['id']}", "comments_count"), 4, "comments_count")

    # Carol may see the doc but neither wrote bob's comment nor the doc: 403.
    assert gateway.get(path, headers=carol.auth).status_code == 200
    assert_error(gateway.delete(f"/comments/{written[2]['id']}", headers=carol.auth), 403, "FORBIDDEN")
    # The comment's author, and the doc's author, may.
    assert gateway.delete(f"/comments/{written[2]['id']}", headers=bob.auth).status_code == 204
    assert gateway.delete(f"/comments/{written[1]['id']}", headers=alice.auth).status_code == 204
    assert_error(gateway.delete(f"/comments/{written[1]['id']}", headers=alice.auth), 404, "NOT_FOUND")
    assert_error(gateway.delete("/comments/nope", headers=alice.auth), 404, "NOT_FOUND")
    remaining = [c["id"] for c in gateway.get(path).json()["data"]]
    assert remaining == [written[0]["id"], written[3]["id"]]
    await eventually(lambda: field(gateway, f"/docs/{doc['id']}", "comments_count"), 2, "comments_count")


async def test_private_content_is_refused_everywhere(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    secret = create(gateway, alice, "snippet", visibility="private")
    unlisted = create(gateway, alice, "snippet", visibility="unlisted")
    base = f"/snippets/{secret['id']}"

    # The author may like and comment on her private snippet; anyone may on an unlisted one.
    assert like(gateway, alice, "snippet", secret["id"]).status_code == 200
    own = gateway.post(f"{base}/comments", headers=alice.auth, json={"body": "note to self"})
    assert own.status_code == 201, own.text
    assert gateway.get(f"{base}/comments", headers=alice.auth).status_code == 200
    assert like(gateway, bob, "snippet", unlisted["id"]).status_code == 200
    assert (
        gateway.post(
            f"/snippets/{unlisted['id']}/comments", headers=bob.auth, json={"body": "ok"}
        ).status_code
        == 201
    )

    for resp in (
        like(gateway, bob, "snippet", secret["id"]),
        like(gateway, bob, "snippet", secret["id"], liked=False),
        gateway.get(f"{base}/comments", headers=bob.auth),
        gateway.get(f"{base}/comments"),
        gateway.post(f"{base}/comments", headers=bob.auth, json={"body": "let me in"}),
        gateway.delete(f"/comments/{own.json()['id']}", headers=bob.auth),
    ):
        assert_error(resp, 404, "NOT_FOUND")


async def test_private_hides_and_public_restores(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    item = create(gateway, alice, "snippet")
    base = f"/snippets/{item['id']}"
    assert like(gateway, bob, "snippet", item["id"]).status_code == 200
    comment = gateway.post(f"{base}/comments", headers=bob.auth, json={"body": "nice"}).json()

    def bobs_view() -> int:
        return gateway.get(f"{base}/comments", headers=bob.auth).status_code

    assert gateway.patch(base, headers=alice.auth, json={"visibility": "private"}).status_code == 200
    await eventually(bobs_view, 404, "bob's view of the comments")
    assert_error(like(gateway, bob, "snippet", item["id"]), 404, "NOT_FOUND")
    assert_error(gateway.delete(f"/comments/{comment['id']}", headers=bob.auth), 404, "NOT_FOUND")
    assert [c["id"] for c in gateway.get(f"{base}/comments", headers=alice.auth).json()["data"]] == [
        comment["id"]
    ]

    assert gateway.patch(base, headers=alice.auth, json={"visibility": "public"}).status_code == 200
    await eventually(bobs_view, 200, "bob's view of the comments")
    assert [c["id"] for c in gateway.get(f"{base}/comments", headers=bob.auth).json()["data"]] == [
        comment["id"]
    ]
    assert like(gateway, bob, "snippet", item["id"]).json() == {"liked": True, "likes_count": 1}


async def test_deleting_content_takes_its_likes_comments_and_notifications(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    item = create(gateway, alice, "doc")
    kept = create(gateway, alice, "doc")
    for target in (item, kept):
        assert like(gateway, bob, "doc", target["id"]).status_code == 200
        resp = gateway.post(f"/docs/{target['id']}/comments", headers=bob.auth, json={"body": "hi"})
        assert resp.status_code == 201

    def subjects() -> list[str]:
        resp = gateway.get("/notifications", headers=alice.auth)
        assert resp.status_code == 200, resp.text
        return sorted({n["subject"]["id"] for n in resp.json()["data"] if n["subject"]})

    assert subjects() == sorted([item["id"], kept["id"]])
    assert gateway.delete(f"/docs/{item['id']}", headers=alice.auth).status_code == 204
    await eventually(subjects, [kept["id"]], "the subjects of alice's notifications")
    assert_error(like(gateway, bob, "doc", item["id"]), 404, "NOT_FOUND")
    assert_error(gateway.get(f"/docs/{item['id']}/comments"), 404, "NOT_FOUND")
    assert len(gateway.get(f"/docs/{kept['id']}/comments").json()["data"]) == 1


async def test_a_delete_or_privacy_change_holds_at_once(fleet: RunningFleet, gateway: httpx.Client) -> None:
    """The content service tells social right after its commit, so the very next request sees it
    (the event, a moment later, changes nothing more)."""
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    for kind in ("snippet", "doc"):
        gone = create(gateway, alice, kind)
        hidden = create(gateway, alice, kind)
        for item in (gone, hidden):
            assert like(gateway, bob, kind, item["id"]).status_code == 200
            assert gateway.get(f"/{PLURAL[kind]}/{item['id']}/comments", headers=bob.auth).status_code == 200

        assert gateway.delete(f"/{PLURAL[kind]}/{gone['id']}", headers=alice.auth).status_code == 204
        assert_error(
            gateway.get(f"/{PLURAL[kind]}/{gone['id']}/comments", headers=alice.auth), 404, "NOT_FOUND"
        )
        assert_error(like(gateway, bob, kind, gone["id"]), 404, "NOT_FOUND")

        resp = gateway.patch(
            f"/{PLURAL[kind]}/{hidden['id']}", headers=alice.auth, json={"visibility": "private"}
        )
        assert resp.status_code == 200, resp.text
        assert_error(
            gateway.get(f"/{PLURAL[kind]}/{hidden['id']}/comments", headers=bob.auth), 404, "NOT_FOUND"
        )
        assert_error(like(gateway, bob, kind, hidden["id"], liked=False), 404, "NOT_FOUND")
        assert gateway.get(f"/{PLURAL[kind]}/{hidden['id']}/comments", headers=alice.auth).status_code == 200


async def test_an_item_can_be_liked_the_moment_it_is_created(fleet: RunningFleet) -> None:
    """Social learns of a new item from its event or, when the like comes first, by asking the
    content service once; either way, or both at once, the like finds it."""
    alice, bob = await member(fleet, "alice"), await member(fleet, "bob")
    base = fleet.gateway_url + "/api/v1"
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def create_and_like(n: int) -> None:
            body = {"title": f"fresh {n}", "code": "x = 1\n", "visibility": ("public", "unlisted")[n % 2]}
            created = await client.post("/snippets", headers=alice.auth, json=body)
            assert created.status_code == 201, created.text
            liked = await client.put(f"/snippets/{created.json()['id']}/like", headers=bob.auth)
            if liked.status_code != 200:
                failures.append(liked.text)

        for batch in range(10):
            await asyncio.gather(*(create_and_like(batch * 8 + i) for i in range(8)))
    assert failures == []


async def test_counts_add_up_when_likes_arrive_together(fleet: RunningFleet, gateway: httpx.Client) -> None:
    """A burst of likes, unlikes and comments reaches the content services as a backlog, applied a
    fetched batch at a time: the counters still equal what exists, and a bystander stays at 0."""
    author = await member(fleet, "alice")
    fans = [await member(fleet, f"fan{n}") for n in range(12)]
    base = fleet.gateway_url + "/api/v1"
    for kind in ("snippet", "doc"):
        item, bystander = create(gateway, author, kind), create(gateway, author, kind)
        path = f"/{PLURAL[kind]}/{item['id']}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            liked = await asyncio.gather(*(client.put(f"{path}/like", headers=f.auth) for f in fans))
            assert [r.status_code for r in liked] == [200] * 12
            unliked = await asyncio.gather(*(client.delete(f"{path}/like", headers=f.auth) for f in fans[:4]))
            assert [r.status_code for r in unliked] == [200] * 4
            commented = await asyncio.gather(
                *(client.post(f"{path}/comments", headers=f.auth, json={"body": "nice"}) for f in fans[:3])
            )
            assert [r.status_code for r in commented] == [201] * 3
        await eventually(lambda p=path: field(gateway, p, "likes_count"), 8, f"{kind} likes_count")
        await eventually(lambda p=path: field(gateway, p, "comments_count"), 3, f"{kind} comments_count")
        other = f"/{PLURAL[kind]}/{bystander['id']}"
        assert (field(gateway, other, "likes_count"), field(gateway, other, "comments_count")) == (0, 0)
