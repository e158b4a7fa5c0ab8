"""Alembic steps that snippets' and docs' revisions share; each revision names its table and body."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op

from codegram_content.search_sql import rebuild_terms_beside_digits

Step = Callable[[], None]


def keep_digits_steps(schema: str, table: str, body_field: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of revision 0003: search vectors built again, digits kept with their
    letters (`utf8`, `x86`, `sha256`).

    The vectors are stored, and their terms come from codegram_content.text_search, which now keeps
    `parse_utf8_bytes`'s `utf8` whole instead of `utf` and `8`. Only rows with a letter beside a digit
    get different terms, so only those are rebuilt, in Python, in batches (a row costs about what a
    write of it does). Offline (SQL script) mode cannot run Python over the rows: run it online.
    """

    def upgrade() -> None:
        if context.is_offline_mode():
            op.execute("-- 0003 rebuilds search vectors row by row in Python: run it against the database")
            return
        rebuild_terms_beside_digits(op.get_bind(), schema, table, body_field=body_field)

    def downgrade() -> None:
        # Nothing to undo: the older code searches these vectors as well (its queries are whole words,
        # and `utf8` is now a term); a part it split (`utf`, `8`) is simply no longer there.
        pass

    return upgrade, downgrade


def authors_steps(schema: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of the revision that adds the authors read model (`authors.py`).

    It starts empty: rows come from the users service's events from now on, and the authors of
    pages read before an event are read through the users service once and kept."""

    def upgrade() -> None:
        op.create_table(
            "authors",
            sa.Column("id", sa.Uuid, nullable=False),
            sa.Column("username", sa.Text, nullable=False),
            sa.Column("full_name", sa.Text, nullable=False),
            sa.Column("avatar_url", sa.Text, nullable=False),
            sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_authors"),
            schema=schema,
        )

    def downgrade() -> None:
        op.drop_table("authors", schema=schema)

    return upgrade, downgrade
