"""A list page's authors come in the page's own statement: the author directory is asked only for
the authors the service's read model does not hold yet."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from codegram_clients.users import Author
from codegram_content.authors import LocalAuthorDirectory
from codegram_kit.db.fast_reads import FastReads, Shaped
from codegram_kit.messaging.outbox import Outbox
from codegram_snippets.models import outbox
from codegram_snippets.repository import ListFilters
from codegram_snippets.service import SnippetService


class OneRead:
    """Fast reads answering every statement with the same rows, counting the statements."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.statements: list[Any] = []

    async def fetch(self, statement: Any) -> list[dict[str, Any]]:
        self.statements.append(statement)
        return self.rows


class Directory:
    """The users service's side of the author directory: what it was asked for."""

    def __init__(self, known: dict[UUID, Author]) -> None:
        self.known = known
        self.asked: list[set[UUID]] = []

    async def summaries(self, ids: Collection[UUID]) -> dict[UUID, Author]:
        self.asked.append(set(ids))
        return {i: self.known[i] for i in ids if i in self.known}

    async def find_id(self, username: str) -> UUID | None:
        return None


class LocalOnly(LocalAuthorDirectory):
    """The read model as a dict (no database): what the directory finds locally, and what it asks."""

    def __init__(self, local: dict[UUID, Author], remote: Directory) -> None:
        self.local = local
        self.remote = remote
        self.read_locally: list[set[UUID]] = []

    async def _known_rows(self, ids: Collection[UUID]) -> list[Any]:
        self.read_locally.append(set(ids))
        return [(a.id, a.username, a.full_name, a.avatar_url) for i in ids if (a := self.local.get(i))]

    async def _keep(self, authors: Collection[Author]) -> None:
        pass


def _row(author: Author, known: bool, n: int) -> dict[str, Any]:
    when = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(minutes=n)
    return {
        "id": uuid.uuid4(),
        "author_id": author.id,
        "title": f"t{n}",
        "description": "",
        "tags": [],
        "visibility": "public",
        "likes_count": 0,
        "comments_count": 0,
        "created_at": when,
        "updated_at": when,
        "code": "x = 1",
        "language": "python",
        "language_detected": False,
        "author_username": author.username if known else None,
        "author_full_name": author.full_name if known else None,
        "author_avatar_url": author.avatar_url if known else None,
    }


def _service(reads: OneRead, authors: LocalOnly) -> SnippetService:
    return SnippetService(None, Outbox(outbox), reads, authors)  # type: ignore[arg-type]


async def test_a_page_of_known_authors_is_one_statement_and_asks_no_one() -> None:
    ada = Author(uuid.uuid4(), "ada", "Ada", "https://a/ada.png")
    reads = OneRead([_row(ada, True, n) for n in range(3)])
    remote = Directory({})
    authors = LocalOnly({}, remote)
    page, _ = await _service(reads, authors).list_public(
        ListFilters(), author_username=None, order="recent", cursor=None, limit=20
    )
    assert [a.author for a in page] == [ada] * 3
    assert len(reads.statements) == 1 and isinstance(reads.statements[0], Shaped)
    assert authors.read_locally == [] and remote.asked == []


async def test_an_author_the_read_model_lacks_is_read_through_alone() -> None:
    ada = Author(uuid.uuid4(), "ada", "Ada", "")
    new = Author(uuid.uuid4(), "grace", "Grace", "")
    reads = OneRead([_row(ada, True, 0), _row(new, False, 1), _row(new, False, 2)])
    remote = Directory({new.id: new})
    authors = LocalOnly({}, remote)
    page, _ = await _service(reads, authors).list_public(
        ListFilters(), author_username=None, order="recent", cursor=None, limit=20
    )
    assert [a.author for a in page] == [ada, new, new]
    assert authors.read_locally == [{new.id}] and remote.asked == [{new.id}]


async def test_an_author_nobody_knows_is_shown_blank() -> None:
    gone = Author(uuid.uuid4(), "gone", "", "")
    reads = OneRead([_row(gone, False, 0)])
    page, _ = await _service(reads, LocalOnly({}, Directory({}))).list_public(
        ListFilters(), author_username=None, order="recent", cursor=None, limit=20
    )
    assert page[0].author == Author(gone.id, "", "", "")


def test_the_page_statement_reads_each_author_by_key() -> None:
    # Not a join over the whole authors table: each row of the page looks up its author.
    reads = FastReads.__new__(FastReads)
    reads._statements = {}
    repo = SnippetService.repository(None)  # type: ignore[arg-type]
    sql, _ = reads.compiled(repo.list_public_read(ListFilters(), None, "recent", None, 21))
    assert "LEFT OUTER JOIN LATERAL" in sql and "snippets.authors.id = page.author_id" in sql
