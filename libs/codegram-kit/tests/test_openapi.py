"""The OpenAPI a kit app serves documents what it answers: the envelope under 400 (not FastAPI's
422), 401 and the bearer scheme where a token is read, route-declared errors, opaque cursors; and a
405 lists every method of its path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.testclient import TestClient

from codegram_kit.web.app import create_app
from codegram_kit.web.openapi import error_responses
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _app() -> TestClient:
    app = create_app("test", title="test")

    @app.get("/items", responses=error_responses(404, s404="no such author"))
    async def list_items(
        viewer: OptionalPrincipal, cursor: Annotated[str | None, Query(max_length=10)] = None
    ) -> dict:
        return {}

    @app.post("/items", status_code=201)
    async def create_item(principal: CurrentPrincipal, body: dict) -> dict:
        return {}

    @app.get("/public")
    async def public() -> dict:
        return {}

    return TestClient(app)


def test_every_operation_documents_the_envelope_under_400_and_500_and_no_422() -> None:
    spec = _app().get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("400", "500"):
                assert responses[status]["content"]["application/json"]["schema"] == ENVELOPE
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorEnvelope"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "in" in schemas["ErrorDetail"]["properties"]
    assert "HTTPValidationError" not in schemas


def test_who_may_call_is_documented_with_401() -> None:
    spec = _app().get("/openapi.json").json()
    items, public = spec["paths"]["/items"], spec["paths"]["/public"]["get"]
    assert items["post"]["security"] == [{"bearer": []}]
    assert items["get"]["security"] == [{"bearer": []}, {}]  # anonymous too
    assert "401" in items["post"]["responses"] and "401" in items["get"]["responses"]
    assert "security" not in public and "401" not in public["responses"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert items["get"]["responses"]["404"]["description"] == "no such author"


def test_a_cursor_is_an_opaque_format() -> None:
    spec = _app().get("/openapi.json").json()
    (cursor,) = [p for p in spec["paths"]["/items"]["get"]["parameters"] if p["name"] == "cursor"]
    assert {"type": "string", "maxLength": 10, "format": "cursor"} in cursor["schema"]["anyOf"]
    assert "next_cursor" in cursor["description"]


def test_a_405_allows_every_method_of_the_path() -> None:
    client = _app()
    assert client.get("/items").status_code == 200
    resp = client.put("/items")
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert resp.headers["allow"] == "GET, POST"
