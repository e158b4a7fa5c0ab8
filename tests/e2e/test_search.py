"""`GET /api/v1/search` through the real gateway, fanning out to the real content services."""

from __future__ import annotations

import httpx
import pytest

from codegram_devstack.e2e import member, tag
from codegram_devstack.fleet import RunningFleet
from tests.e2e.test_docs import create as create_doc
from tests.e2e.test_snippets import create


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


async def test_search_pages_through_every_public_hit_once(fleet: RunningFleet, gateway: httpx.Client) -> None:
    author = await member(fleet, "searcher")
    label = tag()
    made = [
        create(
            gateway,
            author,
            title=f"Parse JSON lines {i}",
            code=f"def parse_json_line_{i}(line):\n    pass\n",
            tags=[label],
        )
        for i in range(7)
    ]
    create(gateway, author, title="Parse JSON lines, private", tags=[label], visibility="private")
    create(gateway, author, title="Parse JSON lines, unlisted", tags=[label], visibility="unlisted")

    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "parse json", "tag": label, "limit": 3} | ({"cursor": cursor} if cursor else {})
        resp = gateway.get("/search", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert all(hit["type"] == "snippet" for hit in body["data"])
        assert body["partial"] is False
        assert all(isinstance(hit["score"], float) and hit["highlights"] for hit in body["data"])
        seen += [hit["item"]["id"] for hit in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        pages += 1
        if cursor is None:
            break
        assert resp.headers["link"].endswith('rel="next"') and pages < 10
    assert sorted(seen) == sorted(s["id"] for s in made)  # once each, and nothing private or unlisted
    assert resp.headers["x-ratelimit-limit"]


async def test_search_merges_scores_in_order_and_filters(fleet: RunningFleet, gateway: httpx.Client) -> None:
    author = await member(fleet, "ranker")
    label = tag()
    title_hit = create(gateway, author, title="frobnicate the widgets", tags=[label])
    body_hit = create(
        gateway, author, title="Something else", code="def frobnicate():\n    return 1\n", tags=[label]
    )
    body = gateway.get("/search", params={"q": "frobnicate", "tag": label, "type": "snippet"}).json()
    assert [h["item"]["id"] for h in body["data"]] == [title_hit["id"], body_hit["id"]]  # title weighs more
    assert body["data"][0]["score"] > body["data"][1]["score"]
    assert "<mark>" in body["data"][0]["highlights"]["title"][0]
    go_only = gateway.get("/search", params={"q": "frobnicate", "tag": label, "language": "go"}).json()
    assert go_only["data"] == [] and go_only["partial"] is False


async def test_snippets_and_docs_are_merged_into_one_ranked_list(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    author = await member(fleet, "mixer")
    label = tag()
    doc_by_title = create_doc(gateway, author, title="Quixotic parsers explained", tags=[label])
    snippet_by_title = create(gateway, author, title="A quixotic parser", tags=[label])
    doc_by_body = create_doc(
        gateway, author, title="Notes", content="Some words about a quixotic idea.", tags=[label]
    )
    create_doc(gateway, author, title="Quixotic but private", tags=[label], visibility="private")

    seen, cursor = [], None
    while True:
        params = {"q": "quixotic", "tag": label, "limit": 1} | ({"cursor": cursor} if cursor else {})
        body = gateway.get("/search", params=params).json()
        assert body["partial"] is False
        seen += [(hit["type"], hit["item"]["id"], hit["score"]) for hit in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert {(kind, item) for kind, item, _ in seen} == {
        ("doc", doc_by_title["id"]),
        ("snippet", snippet_by_title["id"]),
        ("doc", doc_by_body["id"]),
    }
    assert len(seen) == 3  # once each, across pages of one
    assert [score for *_, score in seen] == sorted((score for *_, score in seen), reverse=True)
    assert seen[-1][1] == doc_by_body["id"]  # a match in the body ranks below matches in titles
    docs_only = gateway.get("/search", params={"q": "quixotic", "tag": label, "type": "doc"}).json()
    assert {hit["type"] for hit in docs_only["data"]} == {"doc"} and len(docs_only["data"]) == 2


@pytest.mark.parametrize(
    "q", ['"unclosed', "a -b or c", "'; DROP TABLE snippets; --", "x" * 500, "🦀 rust", "<script>", "a\x00b"]
)
def test_hostile_queries_never_fail(gateway: httpx.Client, q: str) -> None:
    resp = gateway.get("/search", params={"q": q, "type": "snippet"})
    assert resp.status_code in (200, 400), resp.text
    assert resp.json().get("partial") in (None, False)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "x", "limit": "0"},
        {"q": "x", "cursor": "garbage"},
        {"q": "x" * 2000},
        {"q": "x", "type": "user"},
        # Docs have no language, so a language filter finds no docs; a tag that cannot exist is
        # still a 400, as it is with snippets.
        {"q": "x", "type": "doc", "language": "python", "tag": "Not a tag!"},
        {"q": "x", "language": "python", "tag": "Not a tag!"},
    ],
)
def test_bad_search_parameters_are_400(gateway: httpx.Client, params: dict) -> None:
    if "tag" in params:  # the same query with a good tag is answered
        assert gateway.get("/search", params={**params, "tag": "python"}).status_code == 200
    resp = gateway.get("/search", params=params)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "VALIDATION_ERROR"
