"""Postgres: the engine and unit of work, Alembic migrations in the service's schema, ids of stored rows."""
