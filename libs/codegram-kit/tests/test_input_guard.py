"""NUL characters in a path, a query or a body are a 400 before any handler runs."""

from __future__ import annotations

import pytest
from fastapi import Request, WebSocket
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from codegram_kit.web.app import create_app
from codegram_kit.web.input_guard import has_json_nul_escape

reached: list[str] = []


class Body(BaseModel):
    text: str


def _client() -> TestClient:
    app = create_app("test", title="test")

    @app.get("/items/{name}")
    async def item(name: str, q: str | None = None) -> dict[str, str | None]:
        reached.append(name)
        return {"name": name, "q": q}

    @app.post("/items")
    async def create(body: Body) -> dict[str, str]:
        reached.append(body.text)
        return {"text": body.text}

    @app.websocket("/ws/{name}")
    async def socket(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        await websocket.send_text(name)
        await websocket.close()

    @app.put("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return TestClient(app)


def _refused(resp, where: str) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["request_id"] == resp.headers["x-request-id"]
    assert {d["in"] for d in body["error"]["details"]} == {where}


def test_valid_requests_pass_through_untouched() -> None:
    client = _client()
    assert client.get("/items/a", params={"q": "b"}).json() == {"name": "a", "q": "b"}
    assert client.post("/items", json={"text": "caf\u00e9 \\u0000 literal"}).json() == {
        "text": "caf\u00e9 \\u0000 literal"
    }
    big = b"x" * 300_000
    assert client.put("/raw", content=big, headers={"content-type": "application/octet-stream"}).json() == {
        "length": len(big)
    }


@pytest.mark.parametrize("path", ["/items/%00", "/items/a%00b", "/items/%2500%00"])
def test_a_nul_in_the_path_is_refused(path: str) -> None:
    reached.clear()
    _refused(_client().get(path), "path")
    assert reached == []


@pytest.mark.parametrize("query", ["q=%00", "q=a%00", "q%00=1", "x=1&q=%00&y=2"])
def test_a_nul_in_the_query_is_refused(query: str) -> None:
    reached.clear()
    resp = _client().get(f"/items/a?{query}")
    _refused(resp, "query")
    assert reached == []


def test_the_refused_query_parameter_is_named() -> None:
    details = _client().get("/items/a?x=1&q=a%00").json()["error"]["details"]
    assert details == [{"field": "q", "in": "query", "message": "NUL characters are not allowed"}]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"text": "a\\u0000b"}', "application/json"),
        (b'{"text": "\\u0000"}', "application/json; charset=utf-8"),
        (b'{"text": "\\\\\\u0000"}', "application/json"),  # an escaped backslash, then the escape
        (b'{"text\\u0000": "x"}', "application/json"),
        (b'{"text": "a\\u0000b"}', "application/merge-patch+json"),
        (b'{"text": "a\\u0000b"}', None),  # parsed as JSON all the same
        (b'{"text": "a\x00b"}', "application/json"),
        (b"raw\x00bytes", "text/plain"),
    ],
)
def test_a_nul_in_a_body_is_refused(content: bytes, content_type: str | None) -> None:
    reached.clear()
    headers = {"content-type": content_type} if content_type else {}
    client = _client()
    if content_type is None:
        # The client adds no type of its own to raw content.
        resp = client.post("/items", content=content)
    else:
        resp = client.post("/items", content=content, headers=headers)
    _refused(resp, "body")
    assert reached == []


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    assert not has_json_nul_escape(b'"\\\\u0000"')  # the text \u0000, six characters
    assert has_json_nul_escape(b'"\\\\\\u0000"')  # a backslash, then NUL
    assert not has_json_nul_escape(b'"u0000 \\u0001"')
    assert has_json_nul_escape(b'"u0000 \\u0000"')


def test_the_refused_body_fields_are_named_as_the_framework_names_them() -> None:
    content = b'{"text": "a\\u0000", "tags": ["ok", "b\\u0000"], "meta": {"k\\u0000": 1}}'
    resp = _client().post("/items", content=content, headers={"content-type": "application/json"})
    assert [d["field"] for d in resp.json()["error"]["details"]] == ["text", "tags.1", "meta.k"]


def test_a_websocket_with_a_nul_in_its_path_or_query_is_closed_before_accepting() -> None:
    client = _client()
    with client.websocket_connect("/ws/fine") as ws:
        assert ws.receive_text() == "fine"
    for url in ("/ws/a%00", "/ws/fine?access_token=%00"):
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url):
            pass
        assert closed.value.code == 1008
