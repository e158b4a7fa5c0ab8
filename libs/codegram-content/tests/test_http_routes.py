"""The shared content routes, built for a kind, carry the kind's names: paths, path parameter,
operations, schemas and status codes, with the filter parameters where the kind's filters put them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from codegram_content.api_models import SearchHitFields, SearchResultsFields
from codegram_content.http_routes import ContentKind, Text, content_routers
from codegram_content.query_params import TagParams


class NoteCreate(BaseModel):
    title: str


class NoteUpdate(BaseModel):
    title: str | None = None


class NoteRead(BaseModel):
    id: str
    title: str


class NoteListItem(BaseModel):
    id: str


class NoteSearchHit(SearchHitFields[NoteListItem]):
    pass


class NoteSearchResults(SearchResultsFields[NoteSearchHit]):
    pass


def note_filters(tag: TagParams = []) -> list[str]:
    return tag


def _unused(_runtime: Any) -> AbstractAsyncContextManager[Any]:
    raise AssertionError("no request is made here")


def _spec() -> dict[str, Any]:
    routes = content_routers(
        ContentKind(
            noun="note",
            plural="notes",
            open_service=_unused,
            create_schema=NoteCreate,
            update_schema=NoteUpdate,
            read_schema=NoteRead,
            list_item_schema=NoteListItem,
            hit_schema=NoteSearchHit,
            results_schema=NoteSearchResults,
            read=lambda item: NoteRead(id=str(item.item.id), title=item.item.title),
            list_item=lambda item: NoteListItem(id=str(item.item.id)),
            list_filters=note_filters,
            search_filters=note_filters,
            create_text=Text("Write a note"),
            list_text=Text("Public notes"),
            search_text=Text("Search notes"),
        )
    )
    app = FastAPI()
    app.include_router(routes.router)
    app.include_router(routes.internal_router)
    return app.openapi()


SPEC = _spec()


def _operation(method: str, path: str) -> dict[str, Any]:
    return SPEC["paths"][path][method]


def _parameters(method: str, path: str) -> list[str]:
    return [p["name"] for p in _operation(method, path).get("parameters", [])]


def test_the_kind_names_its_paths_operations_and_path_parameter() -> None:
    assert {path: sorted(ops) for path, ops in SPEC["paths"].items()} == {
        "/api/v1/notes": ["get", "post"],
        "/api/v1/notes/{note_id}": ["delete", "get", "patch"],
        "/api/v1/users/{username}/notes": ["get"],
        "/internal/v1/search": ["get"],
    }
    operations = {op["operationId"] for path in SPEC["paths"].values() for op in path.values()}
    assert operations == {
        "create_note_api_v1_notes_post",
        "list_notes_api_v1_notes_get",
        "get_note_api_v1_notes__note_id__get",
        "update_note_api_v1_notes__note_id__patch",
        "delete_note_api_v1_notes__note_id__delete",
        "list_user_notes_api_v1_users__username__notes_get",
        "search_notes_internal_v1_search_get",
    }
    (item_id,) = _operation("get", "/api/v1/notes/{note_id}")["parameters"]
    assert (item_id["name"], item_id["in"], item_id["schema"]["maxLength"]) == ("note_id", "path", 64)


def test_filters_come_first_then_listing_then_paging() -> None:
    assert _parameters("get", "/api/v1/notes") == ["tag", "author", "sort", "limit", "cursor"]
    assert _parameters("get", "/internal/v1/search") == ["q", "tag", "limit", "cursor"]
    assert _parameters("get", "/api/v1/users/{username}/notes") == ["username", "limit", "cursor"]


def test_schemas_and_status_codes_are_the_kinds() -> None:
    create = _operation("post", "/api/v1/notes")
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/NoteCreate")
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/NoteRead")
    assert "204" in _operation("delete", "/api/v1/notes/{note_id}")["responses"]
    listed = _operation("get", "/api/v1/notes")["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["$ref"].endswith("/Page_NoteListItem_")
    found = _operation("get", "/internal/v1/search")["responses"]["200"]["content"]["application/json"]
    assert found["schema"]["$ref"].endswith("/NoteSearchResults")
