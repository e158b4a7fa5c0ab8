"""Alembic per service: one shared environment, each service's own versions, version table in its schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config

from codegram_kit.db.engine import schema_metadata, to_async_url
from codegram_kit.messaging.outbox import messaging_tables

_ENV_DIR = Path(__file__).parent / "migration_env"


def alembic_config(url: str, schema: str, versions_dir: Path, metadata: sa.MetaData) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_ENV_DIR))
    cfg.set_main_option("version_locations", str(versions_dir))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes.update(schema=schema, metadata=metadata, url=to_async_url(url))
    return cfg


def upgrade(url: str, schema: str, versions_dir: Path, metadata: sa.MetaData, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, schema, versions_dir, metadata), revision)


def revision(url: str, schema: str, versions_dir: Path, metadata: sa.MetaData, message: str) -> None:
    command.revision(alembic_config(url, schema, versions_dir, metadata), message=message, autogenerate=True)


def create_messaging_tables(schema: str) -> None:
    """For a service's first migration: its outbox and processed-event tables."""
    metadata = schema_metadata(schema)
    messaging_tables(metadata)
    metadata.create_all(op.get_bind())


def drop_messaging_tables(schema: str) -> None:
    metadata = schema_metadata(schema)
    messaging_tables(metadata)
    metadata.drop_all(op.get_bind())


def messaging_revision(schema: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """`upgrade, downgrade` of a service's first revision when it has nothing but its messaging tables."""
    return (lambda: create_messaging_tables(schema)), (lambda: drop_messaging_tables(schema))
