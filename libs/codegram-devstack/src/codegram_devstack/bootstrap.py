"""Creates the database, and one role and one schema per service: each role owns only its schema."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

DATABASE = "codegram"


def role_name(service: str) -> str:
    return f"codegram_{service}"


def with_credentials(admin_url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(("postgresql+psycopg", netloc, f"/{database}", parts.query, ""))


def bootstrap(admin_url: str, passwords: dict[str, str], database: str = DATABASE) -> dict[str, str]:
    """Idempotent; returns each service's own DATABASE_URL."""
    plain_admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain_admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    db_admin = urlunsplit(urlsplit(plain_admin)._replace(path=f"/{database}"))
    with psycopg.connect(db_admin, autocommit=True) as conn:
        # Nobody but the owner may create in (or, for new roles, use) the public schema.
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for service, password in passwords.items():
            role = sql.Identifier(role_name(service))
            found = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role_name(service),)
            ).fetchone()
            verb = "ALTER" if found else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    role, sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(service), role
                )
            )
            conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(service), role))
            conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, sql.Identifier(service)))
    return {s: with_credentials(admin_url, role_name(s), p, database) for s, p in passwords.items()}
