"""The search fan-out's merge, paging and partial answers, against stand-in content services that
speak the services' internal search contract (the real services are covered end to end)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from codegram_devstack.engines import free_port
from codegram_gateway.app import create_app
from codegram_gateway.config import GatewaySettings


def _hits(kind: str, scores: list[float]) -> list[dict]:
    # Ordered as a service orders them: score desc, created_at desc, id desc.
    hits = [
        {
            "id": f"{kind}-{i:02d}",
            "score": score,
            "created_at": f"2026-11-{10 + i % 5:02d}T10:00:00Z",
            "item": {"title": f"{kind} {i}"},
            "highlights": {"title": [f"<mark>{kind}</mark> {i}"]},
        }
        for i, score in enumerate(scores)
    ]
    hits.sort(key=lambda h: (-h["score"], _desc(h["created_at"]), _desc(h["id"])))
    for position, hit in enumerate(hits):
        hit["cursor"] = str(position + 1)
    return hits


def _desc(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


class ContentService:
    """Serves `GET /internal/v1/search` over a fixed ranked list; `mode` makes it misbehave."""

    def __init__(self, hits: list[dict]) -> None:
        self.hits = hits
        self.mode = "ok"
        self.queries: list[dict[str, list[str]]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                service.queries.append(query)
                if service.mode == "fail":
                    return self._reply(500, {"error": {"code": "INTERNAL_SERVER_ERROR"}})
                if service.mode == "refuse":
                    return self._reply(400, {"error": {"code": "VALIDATION_ERROR", "message": "q too odd"}})
                start = int(query.get("cursor", ["0"])[0])
                limit = int(query["limit"][0])
                self._reply(200, {"data": service.hits[start : start + limit]})

            def _reply(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def services() -> Iterator[tuple[ContentService, ContentService]]:
    snippets = ContentService(_hits("snippet", [0.9, 0.5, 0.5, 0.5, 0.3, 0.1, 0.05]))
    docs = ContentService(_hits("doc", [0.8, 0.5, 0.5, 0.2]))
    yield snippets, docs
    snippets.server.shutdown()
    docs.server.shutdown()


@pytest.fixture
def client(services: tuple[ContentService, ContentService]) -> Iterator[TestClient]:
    snippets, docs = services
    settings = GatewaySettings(
        snippets_http_url=snippets.url, docs_http_url=docs.url, search_timeout_seconds=1
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _all_pages(client: TestClient, query: str, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        params = {"q": query, "limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        resp = client.get("/api/v1/search", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body["data"])
        cursor = body["pagination"]["next_cursor"]
        assert ("link" in resp.headers) == (cursor is not None)
        if cursor is None:
            return pages
        assert len(pages) < 20


def test_hits_are_merged_by_score_then_newest_then_type(client: TestClient) -> None:
    body = client.get("/api/v1/search", params={"q": "x", "limit": "100"}).json()
    assert body["partial"] is False and body["pagination"]["next_cursor"] is None
    order = [(h["type"], h["score"]) for h in body["data"]]
    assert len(order) == 11
    assert [score for _, score in order] == sorted((score for _, score in order), reverse=True)
    # Equal scores: newest first, then "doc" before "snippet".
    ties = [h for h in body["data"] if h["score"] == 0.5]
    assert len(ties) == 5
    assert ties == sorted(ties, key=lambda h: (_desc(_created(h)), h["type"]))
    assert body["data"][0]["highlights"] == {"title": ["<mark>snippet</mark> 0"]}
    assert len({h["item"]["title"] for h in body["data"]}) == 11


def _created(hit: dict) -> str:
    index = int(hit["item"]["title"].split()[1])
    return f"2026-11-{10 + index % 5:02d}T10:00:00Z"


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
def test_paging_gives_every_hit_once_in_the_merged_order(client: TestClient, limit: int) -> None:
    whole = client.get("/api/v1/search", params={"q": "x", "limit": "100"}).json()["data"]
    pages = _all_pages(client, "x", limit)
    assert all(len(page) <= limit for page in pages)
    assert [h for page in pages for h in page] == whole


def test_a_failing_service_makes_the_answer_partial(
    client: TestClient, services: tuple[ContentService, ContentService]
) -> None:
    snippets, docs = services
    docs.mode = "fail"
    resp = client.get("/api/v1/search", params={"q": "x", "limit": "100"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["partial"] is True and body["unavailable"] == ["doc"]
    assert {h["type"] for h in body["data"]} == {"snippet"} and len(body["data"]) == 7
    assert body["pagination"]["next_cursor"] is None  # nothing more can be said now


def test_a_service_that_comes_back_is_picked_up_where_it_was(
    client: TestClient, services: tuple[ContentService, ContentService]
) -> None:
    _, docs = services
    docs.mode = "fail"
    first = client.get("/api/v1/search", params={"q": "x", "limit": "3"}).json()
    assert first["partial"] is True and [h["type"] for h in first["data"]] == ["snippet"] * 3
    docs.mode = "ok"
    seen = [h["item"]["title"] for h in first["data"]]
    cursor = first["pagination"]["next_cursor"]
    while cursor:
        page = client.get("/api/v1/search", params={"q": "x", "limit": "3", "cursor": cursor}).json()
        assert page["partial"] is False
        seen += [h["item"]["title"] for h in page["data"]]
        cursor = page["pagination"]["next_cursor"]
    assert sorted(seen) == sorted([f"snippet {i}" for i in range(7)] + [f"doc {i}" for i in range(4)])


def test_a_dead_service_makes_the_answer_partial_not_an_error(services) -> None:
    snippets, _ = services
    settings = GatewaySettings(
        snippets_http_url=snippets.url,
        docs_http_url=f"http://127.0.0.1:{free_port()}",
        search_timeout_seconds=1,
    )
    with TestClient(create_app(settings)) as test_client:
        body = test_client.get("/api/v1/search", params={"q": "x"}).json()
    assert body["partial"] is True and body["unavailable"] == ["doc"] and len(body["data"]) == 7


def test_a_query_a_service_refuses_is_a_400(client: TestClient, services) -> None:
    services[0].mode = "refuse"
    resp = client.get("/api/v1/search", params={"q": "x"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_filters_reach_the_services_and_language_searches_snippets_only(client: TestClient, services) -> None:
    snippets, docs = services
    body = client.get(
        "/api/v1/search", params=[("q", "x"), ("language", "go"), ("tag", "a"), ("tag", "b")]
    ).json()
    assert {h["type"] for h in body["data"]} == {"snippet"}
    assert snippets.queries[-1]["language"] == ["go"] and snippets.queries[-1]["tag"] == ["a", "b"]
    assert docs.queries == []
    only_docs = client.get("/api/v1/search", params={"q": "x", "type": "doc"}).json()
    assert {h["type"] for h in only_docs["data"]} == {"doc"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "101"},
        {"q": "x", "type": "video"},
        {"q": "x", "cursor": "garbage"},
        {"q": "x" * 501},
    ],
)
def test_bad_parameters_are_400(client: TestClient, params: dict) -> None:
    resp = client.get("/api/v1/search", params=params)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_cursor_of_another_query_is_refused(client: TestClient) -> None:
    cursor = client.get("/api/v1/search", params={"q": "x", "limit": "2"}).json()["pagination"]["next_cursor"]
    resp = client.get("/api/v1/search", params={"q": "y", "limit": "2", "cursor": cursor})
    assert resp.status_code == 400
