"""The snippets service builds its app with its routes, and its revisions render as Postgres DDL."""

from __future__ import annotations

import pytest
from alembic import command

from codegram_kit.db.migrations import alembic_config
from codegram_snippets.__main__ import SERVICE


def test_builds_its_app_with_public_and_internal_routes() -> None:
    paths = {r.path for r in SERVICE.create_app(SERVICE.settings()).routes}  # type: ignore[attr-defined]
    assert {"/readyz", "/api/v1/snippets", "/api/v1/snippets/{snippet_id}"} <= paths
    assert {"/api/v1/users/{username}/snippets", "/internal/v1/search"} <= paths


def test_internal_search_is_documented_outside_the_public_prefix() -> None:
    spec = SERVICE.create_app(SERVICE.settings()).openapi()
    assert "/internal/v1/search" in spec["paths"]
    assert not [p for p in spec["paths"] if p.startswith("/api/v1/") and "search" in p]


def test_revisions_create_the_outbox_then_the_snippets_table_and_indexes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = alembic_config("postgresql://", "snippets", SERVICE.migrations_dir, SERVICE.models.metadata)
    command.upgrade(cfg, "head", sql=True)  # offline: the revisions rendered as Postgres DDL, no database
    ddl = capsys.readouterr().out
    assert "CREATE TABLE snippets.outbox" in ddl
    assert "CREATE TABLE snippets.snippets" in ddl
    for index in (
        "ix_snippets_public_recent",
        "ix_snippets_public_language_recent",
        "ix_snippets_public_popular",
        "ix_snippets_author_recent",
    ):
        assert f"CREATE INDEX {index}" in ddl
    assert "USING gin (search) WHERE visibility = 'public'" in ddl
    assert "USING gin (tags) WHERE visibility = 'public'" in ddl


def test_the_internal_search_contract_the_gateway_is_written_against() -> None:
    spec = SERVICE.create_app(SERVICE.settings()).openapi()
    operation = spec["paths"]["/internal/v1/search"]["get"]
    params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(params) == {"q", "language", "tag", "limit", "cursor"}
    assert params["tag"]["schema"]["type"] == "array"
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 100)
    assert params["q"]["schema"]["maxLength"] == 500
    schemas = spec["components"]["schemas"]
    hit = schemas["SnippetSearchHit"]["properties"]
    assert set(hit) == {"id", "score", "created_at", "cursor", "item", "highlights"}
    assert hit["item"]["$ref"].endswith("/SnippetListItem")
    assert set(schemas["SnippetSearchResults"]["properties"]) == {"data"}
