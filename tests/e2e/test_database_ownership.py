"""Each service connects as its own role, which owns its schema and can touch no other."""

from __future__ import annotations

import psycopg
import pytest

from codegram_devstack.fleet import SERVICES, RunningFleet


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def test_users_role_cannot_read_another_services_tables(fleet: RunningFleet) -> None:
    with _connect(fleet.fleet.service_db_urls["users"]) as conn:
        assert conn.execute("SELECT count(*) FROM users.users").fetchone() is not None
        for other in ("auth", "social", "snippets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {other}.outbox")


def test_users_role_cannot_create_outside_its_schema(fleet: RunningFleet) -> None:
    with _connect(fleet.fleet.service_db_urls["users"]) as conn:
        for target in ("public", "docs"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"CREATE TABLE {target}.intruder (id int)")


def test_every_schema_is_owned_by_its_service_role(fleet: RunningFleet) -> None:
    with _connect(fleet.fleet.admin_url()) as conn:
        owners = dict(
            conn.execute(
                "SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
                " WHERE n.nspname = ANY(%s)",
                (list(SERVICES),),
            ).fetchall()
        )
        version_tables = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'"
        ).fetchall()
    assert owners == {s: f"codegram_{s}" for s in SERVICES}
    assert sorted(r[0] for r in version_tables) == sorted(SERVICES)
