"""The one Alembic environment every service's migrations run in (see codegram_kit.db.migrations)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

config = context.config
schema: str = config.attributes["schema"]
metadata = config.attributes["metadata"]
url: str = config.attributes["url"]


def _include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return type_ != "table" or getattr(obj, "schema", schema) == schema


if context.is_offline_mode():
    context.configure(
        url=url,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_object=_include,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, connect_args={"options": f"-c search_path={schema}"})
    with engine.connect() as connection:
        # In production the schema is created with its owner by whoever creates the role; creating
        # it here covers a superuser-run migration (and needs no rights when it already exists).
        found = connection.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).first()
        if not found:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_object=_include,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
