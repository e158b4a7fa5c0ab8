"""Synthetic snippets at scale: realistic titles, code in a dozen languages, Zipf-distributed tags
and likes, a few visibilities, two years of creation times, with the search vector the snippets
service would have written.

Rows are generated in worker processes, streamed into an unlogged staging table with COPY, and
moved into `snippets.snippets` in one INSERT ... SELECT that builds the weighted tsvector; the
table's secondary indexes are dropped for the load and rebuilt after it (far faster than
maintaining a GIN index row by row).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import random
import uuid
from collections.abc import Iterator, Sequence
from multiprocessing import get_context

import psycopg

from codegram_content import text_search
from codegram_content.search_sql import field_terms

# The generated code reuses a small vocabulary: remembering each word's terms makes generation
# several times faster without changing what is indexed.
text_search.word_terms = functools.lru_cache(maxsize=100_000)(text_search.word_terms)  # type: ignore[assignment]

LANGUAGES = {
    "python": "def {f}({a}, {b}):\n    {v} = {a} + {b}\n    for item in {v}:\n        print(item)\n"
    "    return {v}\n",
    "javascript": "function {f}({a}, {b}) {{\n  const {v} = {a} + {b};\n  console.log({v});\n"
    "  return {v};\n}}\n",
    "typescript": "export function {f}({a}: number, {b}: number): number {{\n"
    "  const {v}: number = {a} + {b};\n  return {v};\n}}\n",
    "go": "func {f}({a} int, {b} int) int {{\n\t{v} := {a} + {b}\n\tfmt.Println({v})\n\treturn {v}\n}}\n",
    "rust": 'fn {f}({a}: i32, {b}: i32) -> i32 {{\n    let {v} = {a} + {b};\n    println!("{{}}", {v});\n'
    "    {v}\n}}\n",
    "java": "public static int {f}(int {a}, int {b}) {{\n    int {v} = {a} + {b};\n"
    "    System.out.println({v});\n    return {v};\n}}\n",
    "c": 'int {f}(int {a}, int {b}) {{\n    int {v} = {a} + {b};\n    printf("%d\\n", {v});\n'
    "    return {v};\n}}\n",
    "ruby": "def {f}({a}, {b})\n  {v} = {a} + {b}\n  puts {v}\n  return {v}\nend\n",
    "php": "function {f}(${a}, ${b}) {{\n    ${v} = ${a} + ${b};\n    echo ${v};\n    return ${v};\n}}\n",
    "sql": "SELECT {a}, {b}, count(*) AS {v}\nFROM {f}\nWHERE {a} IS NOT NULL\nGROUP BY {a}, {b}\n"
    "ORDER BY {v} DESC;\n",
    "shell": '{f}() {{\n  local {v}="${a}"\n  echo "${v}" | grep "${b}"\n  return 0\n}}\n',
}
WORDS = (
    "parse json line stream buffer cache request response client server token queue worker retry "
    "backoff index search query filter sort merge split join map reduce tree graph node edge path "
    "file socket thread async await lock mutex channel event handler router config logger metric "
    "trace span batch page cursor limit offset user profile session cookie header body status error"
).split()
TAGS = [f"tag{i}" for i in range(400)] + ["python", "javascript", "go", "rust", "sql", "web", "cli", "tips"]
# The word the "common" search looks for appears in nearly every row, the "rare" one in about 0.1%.
COMMON_WORD = "return"
RARE_WORD = "zanzibar"


def _zipf_choice(rng: random.Random, items: Sequence[str], s: float = 1.1) -> str:
    key = (len(items), s)
    if key not in _ZIPF_CUMULATIVE:
        _ZIPF_CUMULATIVE[key] = list(itertools.accumulate(1 / (k + 1) ** s for k in range(len(items))))
    return rng.choices(items, cum_weights=_ZIPF_CUMULATIVE[key])[0]


_ZIPF_CUMULATIVE: dict[tuple[int, float], list[float]] = {}


def _identifier(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(1, 3))
    style = rng.random()
    if style < 0.4:
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style < 0.8:
        return "_".join(words)
    return "".join(words)


def _row(rng: random.Random, authors: Sequence[str], start: dt.datetime, span_seconds: int) -> tuple:
    language = rng.choice(list(LANGUAGES))
    template = LANGUAGES[language]
    blocks = [
        template.format(f=_identifier(rng), a=_identifier(rng), b=_identifier(rng), v=_identifier(rng))
        for _ in range(rng.choices([1, 2, 4, 8, 16], weights=[30, 30, 20, 15, 5])[0])
    ]
    if rng.random() < 0.001:
        blocks.append(f"# {RARE_WORD}\n")
    code = "\n".join(blocks)
    title = " ".join(rng.sample(WORDS, rng.randint(3, 7))).capitalize()
    description = " ".join(rng.sample(WORDS, rng.randint(5, 20))) if rng.random() < 0.6 else ""
    tags = sorted({_zipf_choice(rng, TAGS) for _ in range(rng.randint(0, 5))})
    visibility = rng.choices(["public", "unlisted", "private"], weights=[90, 5, 5])[0]
    likes = int(rng.paretovariate(1.5)) - 1
    created = start + dt.timedelta(seconds=rng.randrange(span_seconds))
    # As the snippets service builds it (snippet_vector): title and tags weigh A, description B,
    # code C; run.py checks a sample against the service's own expression.
    title_terms = field_terms(f"{title} {' '.join(tags)}")
    return (
        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        rng.choice(authors),
        title,
        description,
        code,
        language,
        "{" + ",".join(tags) + "}",
        visibility,
        likes,
        created.isoformat(),
        created.isoformat(),
        title_terms,
        field_terms(description),
        field_terms(code),
    )


def _chunk(args: tuple[int, int, list[str]]) -> list[tuple]:
    seed, count, authors = args
    rng = random.Random(seed)
    start = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
    return [_row(rng, authors, start, 2 * 365 * 86400) for _ in range(count)]


STAGING_COLUMNS = (
    "id uuid, author_id uuid, title text, description text, code text, language text, tags text[], "
    "visibility text, likes_count bigint, created_at timestamptz, updated_at timestamptz, "
    "title_terms text, description_terms text, code_terms text"
)
MOVE = """
INSERT INTO snippets.snippets
  (id, author_id, title, description, code, language, language_detected, tags, visibility,
   likes_count, comments_count, search, created_at, updated_at)
SELECT id, author_id, title, description, code, language, false, tags, visibility, likes_count, 0,
       setweight(to_tsvector('simple', title_terms), 'A')
       || setweight(to_tsvector('simple', description_terms), 'B')
       || setweight(to_tsvector('simple', code_terms), 'C'),
       created_at, updated_at
FROM snippets_staging
"""


def _generated(total: int, authors: list[str], chunk: int = 5000) -> Iterator[list[tuple]]:
    jobs = [(seed, min(chunk, total - seed * chunk), authors) for seed in range((total + chunk - 1) // chunk)]
    # Workers start from a fresh server process, not a fork of this one: it has gRPC threads, and
    # forking a process with them running leaves children that can hang.
    with get_context("forkserver").Pool(2) as pool:
        yield from pool.imap(_chunk, jobs)


def seed(admin_url: str, authors: list[str], total: int, log: object = print) -> None:
    """Loads `total` snippets by `authors` into an empty snippets table (as the superuser)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'snippets' "
            "AND tablename = 'snippets' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX snippets."{name}"')
        conn.execute(f"CREATE UNLOGGED TABLE snippets_staging ({STAGING_COLUMNS})")
        loaded = 0
        with conn.cursor() as cur, cur.copy("COPY snippets_staging FROM STDIN") as copy:
            for rows in _generated(total, authors):
                for row in rows:
                    copy.write_row(row)
                loaded += len(rows)
                if loaded % 100_000 == 0:
                    log(f"generated {loaded}")
        log("moving into snippets.snippets")
        conn.execute(MOVE)
        conn.execute("DROP TABLE snippets_staging")
        log("rebuilding indexes")
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE snippets.snippets")
    settle_writes(admin_url)


def settle_writes(admin_url: str) -> None:
    """Writes out what seeding left dirty (a million rows and their indexes: gigabytes) before
    anything is measured. Left to the kernel, it is flushed about 30 s later, in the middle of a
    measured phase, and every process that writes meanwhile waits on the disk."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    os.sync()
