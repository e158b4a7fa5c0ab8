"""The auth service builds its app with the readiness probe, and its first revision creates its outbox."""

from __future__ import annotations

import pytest
from alembic import command

from codegram_auth.__main__ import SERVICE
from codegram_kit.db.migrations import alembic_config


def test_builds_its_app_and_revision_0001_creates_the_outbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert "/readyz" in {r.path for r in SERVICE.create_app(SERVICE.settings(redis_url="redis://r")).routes}
    cfg = alembic_config("postgresql://", "auth", SERVICE.migrations_dir, SERVICE.models.metadata)
    command.upgrade(cfg, "0001", sql=True)  # offline: the revision rendered as Postgres DDL, no database
    assert "CREATE TABLE auth.outbox" in capsys.readouterr().out
