"""Snippets and docs hold no database transaction, nor a pooled connection, while the users service
answers (author summaries, usernames): rows are read in a short unit of work (or one statement on
the fast reads), authors asked after it.

Each content app runs in this process against the fleet's Postgres and users service; the users
client is wrapped to record, as each call starts, how many transactions are open on the app's
engine and how many pooled connections (the engine's and the fast reads') are checked out. The
app's authors read model is made to miss, so every page's authors are read through the users
service as they were before there was one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from uuid import UUID

import httpx
import pytest
from sqlalchemy import event

from codegram_clients.users import Author, GrpcAuthorDirectory
from codegram_content.authors import LocalAuthorDirectory
from codegram_content.store import ContentRows
from codegram_devstack.e2e import member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_docs.__main__ import SERVICE as DOCS
from codegram_kit.runtime.definition import ServiceDefinition, ServiceRuntime
from codegram_snippets.__main__ import SERVICE as SNIPPETS

BODIES = {
    "snippets": {"title": "held open", "code": "print('no transaction across a call')\n"},
    "docs": {"title": "held open", "content": "# No transaction across a call\n"},
}


class Recorder:
    """Open transactions on one engine, and the database as each users call found it."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.open_transactions = 0
        self.transactions = 0
        self.calls: list[tuple[str, int, int]] = []
        engine = runtime.db.engine.sync_engine
        event.listen(engine, "begin", self._began)
        event.listen(engine, "commit", self._ended)
        event.listen(engine, "rollback", self._ended)

    def _began(self, _connection: object) -> None:
        self.open_transactions += 1
        self.transactions += 1

    def _ended(self, _connection: object) -> None:
        self.open_transactions -= 1

    def note(self, call: str) -> None:
        db = self.runtime.db
        self.calls.append((call, self.open_transactions, db.engine.pool.checkedout(), db.fast.checked_out()))


@pytest.fixture(params=["snippets", "docs"])
async def content_app(
    request: pytest.FixtureRequest, fleet: RunningFleet, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, httpx.AsyncClient, Recorder]]:
    kind: str = request.param
    definition: ServiceDefinition = {"snippets": SNIPPETS, "docs": DOCS}[kind]
    for name, value in fleet.fleet.service_spec(kind).env.items():
        monkeypatch.setenv(name, value)
    # No lifespan runs here (the fleet's process holds the ports); only the HTTP door is used.
    app = definition.create_app(definition.settings())
    runtime: ServiceRuntime = app.state.runtime
    recorder = Recorder(runtime)
    summaries, find_id = GrpcAuthorDirectory.summaries, GrpcAuthorDirectory.find_id

    async def recorded_summaries(self: GrpcAuthorDirectory, ids: Collection[UUID]) -> dict[UUID, Author]:
        recorder.note("GetUsers")
        return await summaries(self, ids)

    async def recorded_find_id(self: GrpcAuthorDirectory, username: str) -> UUID | None:
        recorder.note("GetUserByUsername")
        return await find_id(self, username)

    async def nothing_known(self: LocalAuthorDirectory, ids: Collection[UUID]) -> list[object]:
        return []

    monkeypatch.setattr(LocalAuthorDirectory, "_known_rows", nothing_known)
    # Nor do the authors a list page reads in its own statement: every author is read through.
    monkeypatch.setattr(ContentRows, "authors_in", lambda self, rows: {})
    monkeypatch.setattr(GrpcAuthorDirectory, "summaries", recorded_summaries)
    monkeypatch.setattr(GrpcAuthorDirectory, "find_id", recorded_find_id)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{kind}"
        ) as client:
            yield kind, client, recorder
    finally:
        await runtime.close_channels()
        await runtime.db.dispose()
        if runtime.redis is not None:
            await runtime.redis.aclose()


async def test_no_transaction_or_connection_is_held_while_the_users_service_answers(
    fleet: RunningFleet, content_app: tuple[str, httpx.AsyncClient, Recorder]
) -> None:
    kind, client, recorder = content_app
    alice, label = await member(fleet, "alice"), tag()
    api = "/api/v1"

    created = await client.post(f"{api}/{kind}", headers=alice.auth, json={**BODIES[kind], "tags": [label]})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["author"]["username"] == alice.username
    answers = [
        await client.get(f"{api}/{kind}/{item['id']}"),
        await client.get(f"{api}/{kind}", params={"author": alice.username, "tag": label}),
        await client.get(f"{api}/users/{alice.username}/{kind}", headers=alice.auth),
        await client.get("/internal/v1/search", params={"q": "held open", "tag": label}),
        await client.patch(
            f"{api}/{kind}/{item['id']}", headers=alice.auth, json={"title": "held open again"}
        ),
    ]
    if kind == "docs":
        answers.append(await client.get(f"{api}/users/{alice.username}/docs/{item['slug']}"))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        found = answer.json()
        for shown in found.get("data", [found]):
            shown = shown.get("item", shown)
            assert (shown["id"], shown["author"]["username"]) == (item["id"], alice.username)
    assert (await client.get(f"{api}/{kind}/{item['id']}")).json()["title"] == "held open again"

    # Every write above ran in units of work (reads are one statement each on the fast reads), and
    # none was open during a users call: the create, the patch's read and its locked write.
    assert recorder.transactions >= 3
    expected_calls = {"GetUsers": len(answers) + 2, "GetUserByUsername": 3 if kind == "docs" else 2}
    assert {c: sum(1 for call, *_ in recorder.calls if call == c) for c in expected_calls} == expected_calls
    assert [(call, 0, 0, 0) for call, *_ in recorder.calls] == recorder.calls
