"""Domain errors become API.md's error envelope; an Unavailable may say when to try again."""

from __future__ import annotations

from fastapi.testclient import TestClient

from codegram_kit.web.app import create_app
from codegram_kit.web.errors import Unavailable


def _client() -> TestClient:
    app = create_app("test", title="test")

    @app.get("/soon")
    async def soon() -> None:
        raise Unavailable("back in a moment", retry_after=5)

    @app.get("/someday")
    async def someday() -> None:
        raise Unavailable()

    return TestClient(app)


def test_an_unavailable_with_retry_after_sends_the_header() -> None:
    resp = _client().get("/soon")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    error = resp.json()["error"]
    assert error == {"code": "SERVICE_UNAVAILABLE", "message": "back in a moment", "details": []}
    assert resp.json()["request_id"] == resp.headers["x-request-id"]


def test_an_unavailable_without_retry_after_sends_none() -> None:
    resp = _client().get("/someday")
    assert resp.status_code == 503 and "retry-after" not in resp.headers
    assert resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
