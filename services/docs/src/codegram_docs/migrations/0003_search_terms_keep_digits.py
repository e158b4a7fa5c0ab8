"""docs: search vectors built again, digits kept with their letters (`utf8`, `x86`, `sha256`)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The vectors are stored, and their terms come from codegram_content.text_search, which now keeps
`parse_utf8_bytes`'s `utf8` whole instead of `utf` and `8`. Only rows with a letter beside a digit
get different terms, so only those are rebuilt, in Python, in batches (a row costs about what a
write of it does). Offline (SQL script) mode cannot run Python over the rows: run it online.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from codegram_content.search_sql import LETTER_BESIDE_DIGIT, rebuild_search_vectors
from codegram_docs.repository import doc_vector

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "docs"
FIELDS = ("title", "description", "content", "tags")


def upgrade() -> None:
    if context.is_offline_mode():
        op.execute("-- 0003 rebuilds search vectors row by row in Python: run it against the database")
        return
    docs = sa.Table(
        "docs",
        sa.MetaData(schema=SCHEMA),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("content", sa.Text),
        sa.Column("tags", ARRAY(sa.Text)),
        sa.Column("search", TSVECTOR),
    )
    c = docs.c
    texts = (c.title, c.description, c.content, sa.func.array_to_string(c.tags, " "))
    touched = sa.or_(*(text.op("~")(LETTER_BESIDE_DIGIT) for text in texts))
    rebuild_search_vectors(op.get_bind(), docs, FIELDS, doc_vector, touched)


def downgrade() -> None:
    # Nothing to undo: the older code searches these vectors as well (its queries are whole words,
    # and `utf8` is now a term); a part it split (`utf`, `8`) is simply no longer there.
    pass
