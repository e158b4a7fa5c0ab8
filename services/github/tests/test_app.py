"""The github service builds its app with its routes, and its revisions create its tables."""

from __future__ import annotations

import pytest
from alembic import command

from codegram_github.__main__ import SERVICE
from codegram_kit.db.migrations import alembic_config


def test_builds_its_app_and_revisions_create_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    paths = {r.path for r in SERVICE.create_app(SERVICE.settings(redis_url="redis://r")).routes}
    assert {"/readyz", "/api/v1/github/sync", "/api/v1/users/{username}/languages"} <= paths
    cfg = alembic_config("postgresql://", "github", SERVICE.migrations_dir, SERVICE.models.metadata)
    command.upgrade(cfg, "0002", sql=True)  # offline: the revisions rendered as Postgres DDL, no database
    ddl = capsys.readouterr().out
    for table in ("outbox", "accounts", "sync_jobs", "repositories", "etags"):
        assert f"CREATE TABLE github.{table}" in ddl
    assert "WHERE status IN ('queued', 'running')" in ddl
