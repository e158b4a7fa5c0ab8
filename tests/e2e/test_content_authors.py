"""The authors content shows, from the content services' read model of the users service's profiles
(codegram_content.authors): a new user's first item lists its author, a profile change reaches the
lists, a late event never undoes a newer one, and a page of known authors asks the users service
nothing. Through the real gateway, snippets, docs and users services, Postgres and NATS."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from codegram_devstack.e2e import member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_kit.messaging.streams import MSG_ID_HEADER
from codegram_proto.codegram.events.v1 import users_pb2 as user_events


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


def _until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _item(kind: str, title: str, t: str) -> dict:
    body = {"code": "x = 1"} if kind == "snippets" else {"content": "# Hi"}
    return {"title": title, "tags": [t], **body}


def _listed_authors(gateway: httpx.Client, kind: str, t: str) -> list[dict]:
    resp = gateway.get(f"/{kind}", params={"tag": t})
    assert resp.status_code == 200, resp.text
    return [item["author"] for item in resp.json()["data"]]


async def _publish_user_updated(fleet: RunningFleet, user_id: str, full_name: str, at: datetime) -> None:
    """A `codegram.users.user.updated` as the users service's outbox relay would publish it."""
    occurred = Timestamp()
    occurred.FromDatetime(at)
    event = user_events.UserUpdated(
        user_id=user_id,
        username=f"u{uuid.uuid4().hex[:8]}",
        full_name=full_name,
        avatar_url="",
        changed_fields=["full_name"],
        occurred_at=occurred,
    )
    nc = await nats.connect(fleet.fleet.nats_url)
    try:
        await nc.jetstream().publish(
            "codegram.users.user.updated",
            event.SerializeToString(),
            headers={MSG_ID_HEADER: str(uuid.uuid4())},
        )
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", ["snippets", "docs"])
async def test_a_new_users_first_item_lists_its_author(
    fleet: RunningFleet, gateway: httpx.Client, kind: str
) -> None:
    newcomer = await member(fleet, "newcomer")
    t = tag()
    body = {"title": "First", "tags": [t]} | (
        {"code": "x = 1"} if kind == "snippets" else {"content": "# Hi"}
    )
    created = gateway.post(f"/{kind}", headers=newcomer.auth, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["author"]["username"] == newcomer.username

    authors = _listed_authors(gateway, kind, t)
    assert authors == [
        {"id": newcomer.id, "username": newcomer.username, "full_name": "newcomer Person", "avatar_url": ""}
    ]


@pytest.mark.parametrize("kind", ["snippets", "docs"])
async def test_a_profile_change_reaches_the_listed_authors(
    fleet: RunningFleet, gateway: httpx.Client, kind: str
) -> None:
    who = await member(fleet, "renamed")
    t = tag()
    body = _item(kind, "Mine", t)
    assert gateway.post(f"/{kind}", headers=who.auth, json=body).status_code == 201
    assert _listed_authors(gateway, kind, t)[0]["full_name"] == "renamed Person"

    changed = gateway.patch("/users/me", headers=who.auth, json={"full_name": "Quite Another Name"})
    assert changed.status_code == 200, changed.text

    _until(
        lambda: _listed_authors(gateway, kind, t)[0]["full_name"] == "Quite Another Name",
        "the new full name in the list",
    )
    assert _listed_authors(gateway, kind, t)[0]["username"] == who.username


async def test_a_late_event_never_undoes_a_newer_one(fleet: RunningFleet, gateway: httpx.Client) -> None:
    who = await member(fleet, "late")
    t = tag()
    assert (
        gateway.post("/snippets", headers=who.auth, json={"title": "a", "code": "x", "tags": [t]}).status_code
        == 201
    )
    assert gateway.patch("/users/me", headers=who.auth, json={"full_name": "Newest"}).status_code == 200
    _until(lambda: _listed_authors(gateway, "snippets", t)[0]["full_name"] == "Newest", "the change listed")

    # An event from an hour ago arrives now (a redelivery, a replay)...
    await _publish_user_updated(fleet, who.id, "Stale", datetime.now(UTC) - timedelta(hours=1))
    # ...followed by a fresh one for a user the read model does not hold yet: once that one shows,
    # the stale one before it has been handled.
    ghost = str(uuid.uuid4())
    ghost_auth = {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(ghost)}"}
    g = tag()
    assert (
        gateway.post(
            "/snippets", headers=ghost_auth, json={"title": "g", "code": "y", "tags": [g]}
        ).status_code
        == 201
    )
    assert _listed_authors(gateway, "snippets", g)[0]["full_name"] == ""  # unknown to the users service
    await _publish_user_updated(fleet, ghost, "Sentinel", datetime.now(UTC))
    _until(
        lambda: _listed_authors(gateway, "snippets", g)[0]["full_name"] == "Sentinel", "the sentinel listed"
    )

    assert _listed_authors(gateway, "snippets", t)[0]["full_name"] == "Newest"


async def test_a_page_of_known_authors_asks_the_users_service_nothing(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    people = [await member(fleet, f"known{i}") for i in range(3)]
    t = tag()
    for who in people:
        body = {"title": "k", "code": "x", "tags": [t]}
        assert gateway.post("/snippets", headers=who.auth, json=body).status_code == 201
    # Each create answered its author; the read model holds them from then on (read through or
    # from the users service's event, whichever came first).
    before = fleet.log("users").count("GetUsers")
    listed = _listed_authors(gateway, "snippets", t)
    assert {a["username"] for a in listed} == {p.username for p in people}
    assert fleet.log("users").count("GetUsers") == before
