"""The docs service builds its app with its routes, and its revisions render as Postgres DDL."""

from __future__ import annotations

import pytest
from alembic import command

from codegram_docs.__main__ import SERVICE
from codegram_kit.db.migrations import alembic_config


def test_builds_its_app_with_public_and_internal_routes() -> None:
    paths = {r.path for r in SERVICE.create_app(SERVICE.settings()).routes}  # type: ignore[attr-defined]
    assert {"/readyz", "/api/v1/docs", "/api/v1/docs/{doc_id}", "/internal/v1/search"} <= paths
    assert {"/api/v1/users/{username}/docs", "/api/v1/users/{username}/docs/{slug}"} <= paths


def test_revisions_create_the_outbox_then_the_docs_table_and_indexes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = alembic_config("postgresql://", "docs", SERVICE.migrations_dir, SERVICE.models.metadata)
    command.upgrade(cfg, "head", sql=True)  # offline: the revisions rendered as Postgres DDL, no database
    ddl = capsys.readouterr().out
    assert "CREATE TABLE docs.outbox" in ddl and "CREATE TABLE docs.docs" in ddl
    assert "CONSTRAINT uq_docs_author_id UNIQUE (author_id, slug)" in ddl
    for index in ("ix_docs_public_recent", "ix_docs_public_popular", "ix_docs_author_recent"):
        assert f"CREATE INDEX {index}" in ddl
    assert "USING gin (search) WHERE visibility = 'public'" in ddl
    assert "USING gin (tags) WHERE visibility = 'public'" in ddl


def test_the_internal_search_contract_matches_the_snippets_service() -> None:
    # Schema names differ from the snippets' (the gateway merges every service's schemas by name).
    spec = SERVICE.create_app(SERVICE.settings()).openapi()
    operation = spec["paths"]["/internal/v1/search"]["get"]
    params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(params) == {"q", "language", "tag", "limit", "cursor"}
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 100)
    assert params["q"]["schema"]["maxLength"] == 500
    schemas = spec["components"]["schemas"]
    hit = schemas["DocSearchHit"]["properties"]
    assert set(hit) == {"id", "score", "created_at", "cursor", "item", "highlights"}
    assert hit["item"]["$ref"].endswith("/DocListItem")
    assert set(schemas["DocSearchResults"]["properties"]) == {"data"}
