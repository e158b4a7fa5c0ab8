"""Postgres full-text search for the content services: weighted terms, prefix queries, bounded ranking.

The snippets and docs services search the same way (docs/architecture.md, "Search"): terms come from
`text_search`, a table has a `search` tsvector column with a partial GIN index on its public rows,
and ranking is bounded to the newest `candidate_cap` matches so that a term in nearly every row
costs `candidate_cap` rows, not a million. Scores are normalised to [0, 1) and rounded, so the
gateway can merge the two services' hits and a cursor holds the exact score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY, TSVECTOR

from codegram_content.text_search import FRAGMENT_DELIMITER, HIGHLIGHT_START, HIGHLIGHT_STOP, document_terms

SIMPLE: sa.ColumnClause[Any] = sa.literal_column("'simple'::regconfig")
# ts_rank weights for D, C, B, A: a title (or tag) hit counts ten times a hit in the body.
RANK_WEIGHTS: sa.ColumnClause[Any] = sa.literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
# 1: divide by 1 + log(document length), so a long text does not win by sheer repetition;
# 32: rank / (rank + 1), so every score is in [0, 1) and comparable across services.
RANK_NORMALISATION = 1 | 32
# Every lexeme of the query becomes a prefix (`'json':*`); excluded ones (`!'json'`) stay exact.
_PREFIX_PATTERN = "(?<!!)'(?:[^']|'')+'"
# A tsvector holds at most 1 MB; the terms of one field are cut here so that a 512 KiB page of
# unusual words stays indexable (its tail beyond this many characters of terms is not searchable).
MAX_FIELD_TERMS = 250_000

TITLE_HEADLINE = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, HighlightAll=true"
BODY_HEADLINE = (
    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, MaxFragments=3, MaxWords=16, MinWords=4, "
    f"FragmentDelimiter={FRAGMENT_DELIMITER}"
)


def field_terms(text: str) -> str:
    terms = document_terms(text)
    if len(terms) > MAX_FIELD_TERMS:
        terms = terms[:MAX_FIELD_TERMS].rsplit(" ", 1)[0]
    return terms


def content_vector(title: str, description: str, body: str, tags: Sequence[str]) -> sa.ColumnElement[Any]:
    """A content item's terms: title and tags weigh A, description B, the body (code, markdown) C."""
    return search_vector([(f"{title} {' '.join(tags)}", "A"), (description, "B"), (body, "C")])


def search_vector(fields: Sequence[tuple[str, str]]) -> sa.ColumnElement[Any]:
    """`setweight(to_tsvector('simple', terms), weight) || ...` for each (text, weight) pair.

    CPU-bound on long texts (splitting identifiers): callers run it off the event loop."""
    vector: sa.ColumnElement[Any] | None = None
    for text, weight in fields:
        weighted = sa.func.setweight(
            sa.func.to_tsvector(SIMPLE, field_terms(text)), sa.literal_column(f"'{weight}'")
        )
        vector = weighted if vector is None else vector.op("||")(weighted)
    assert vector is not None
    return vector


# Rows whose terms depend on how letters and digits are split (`utf8`, `x86_64`): a letter beside a digit.
LETTER_BESIDE_DIGIT = "[A-Za-z][0-9]|[0-9][A-Za-z]"


def rebuild_search_vectors(
    connection: sa.Connection,
    table: sa.Table,
    fields: Sequence[str],
    vector: Callable[..., sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool] | None = None,
    batch: int = 200,
) -> int:
    """Build the stored `search` vector again from `fields` of every row (matching `where`), in id
    order and batches; for a migration after the terms change (text_search). Returns the rows done."""
    done, last = 0, None
    while True:
        query = sa.select(table.c.id, *(table.c[f] for f in fields)).order_by(table.c.id).limit(batch)
        if where is not None:
            query = query.where(where)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = connection.execute(query).all()
        if not rows:
            return done
        for row in rows:
            values = {f: getattr(row, f) for f in fields}
            connection.execute(sa.update(table).where(table.c.id == row.id).values(search=vector(**values)))
        done += len(rows)
        last = rows[-1].id


def rebuild_terms_beside_digits(connection: sa.Connection, schema: str, name: str, body_field: str) -> int:
    """The content table's vectors built again where the terms keep a letter beside a digit
    (`utf8`), for the migration that came with that change; returns the rows done."""
    table = sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column(body_field, sa.Text),
        sa.Column("tags", ARRAY(sa.Text)),
        sa.Column("search", TSVECTOR),
    )
    c = table.c
    texts = (c.title, c.description, c[body_field], sa.func.array_to_string(c.tags, " "))
    touched = sa.or_(*(text.op("~")(LETTER_BESIDE_DIGIT) for text in texts))

    def vector(**values: Any) -> sa.ColumnElement[Any]:
        return content_vector(values["title"], values["description"], values[body_field], values["tags"])

    return rebuild_search_vectors(
        connection, table, ("title", "description", body_field, "tags"), vector, touched
    )


def tsquery(websearch: str) -> sa.ColumnElement[Any]:
    """`websearch_to_tsquery('simple', q)` with every kept lexeme made a prefix."""
    parsed = sa.cast(sa.func.websearch_to_tsquery(SIMPLE, websearch), sa.Text)
    return sa.cast(sa.func.regexp_replace(parsed, _PREFIX_PATTERN, r"\&:*", "g"), TSQUERY)


def ranked_page(
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    websearch: str,
    after: tuple[float, datetime, UUID] | None,
    limit: int,
    candidate_cap: int,
) -> sa.Subquery:
    """`(id, created_at, score)` of one page of matches, best first, ranked among the newest
    `candidate_cap` matches of `where` (which must name the partial index's predicate).

    The candidates come from an index-ordered scan (newest first) that stops after the cap; a
    rarer query has fewer matches than the cap and is ranked whole. Join the table to this and
    order with `rank_order` to read whole rows for the page only.
    """
    candidates = (
        sa.select(table.c.id, table.c.created_at, table.c.search)
        .where(*where, table.c.search.op("@@")(tsquery(websearch)))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(candidate_cap)
        .subquery("candidates")
    )
    rank = sa.func.ts_rank(RANK_WEIGHTS, candidates.c.search, tsquery(websearch), RANK_NORMALISATION)
    # Rounded so the score is exactly the same number in SQL, in Python and in a cursor.
    score = sa.cast(sa.func.round(sa.cast(rank, sa.Numeric), 6), sa.Float).label("score")
    scored = sa.select(candidates.c.id, candidates.c.created_at, score).subquery("scored")
    page = sa.select(scored)
    if after is not None:
        page = page.where(sa.tuple_(scored.c.score, scored.c.created_at, scored.c.id) < sa.tuple_(*after))  # type: ignore[arg-type]
    return page.order_by(*rank_order(scored)).limit(limit).subquery("ranked")


def rank_order(ranked: sa.Subquery) -> tuple[sa.UnaryExpression[Any], ...]:
    """Score, then newest, then id: the one total order search pages and cursors follow."""
    return ranked.c.score.desc(), ranked.c.created_at.desc(), ranked.c.id.desc()


def headline(column: sa.ColumnElement[str], websearch: str, options: str) -> sa.ColumnElement[str]:
    """`ts_headline` of HTML-escaped text, for `text_search.highlight_fragments`; for the page only."""
    # Escaped before ts_headline: it would otherwise drop `<div>` from HTML as markup. The marks
    # are control characters removed from the text first, so they are ours alone.
    escaped = sa.func.replace(
        sa.func.replace(sa.func.replace(column, "&", "&amp;"), "<", "&lt;"), ">", "&gt;"
    )
    text = sa.func.translate(escaped, HIGHLIGHT_START + HIGHLIGHT_STOP + FRAGMENT_DELIMITER, "")
    return sa.func.ts_headline(SIMPLE, text, tsquery(websearch), options)
