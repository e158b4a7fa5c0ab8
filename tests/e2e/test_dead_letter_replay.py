"""`codegram-users replay-dead-letters` runs a dead-lettered event through the real consumer once."""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx
import nats

from codegram_devstack.e2e import member
from codegram_devstack.fleet import RunningFleet
from codegram_kit.messaging.consumer import (
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_EVENT_ID,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SUBJECT,
)
from codegram_proto.codegram.events.v1 import docs_pb2


def _replay(fleet: RunningFleet, *args: str) -> subprocess.CompletedProcess[str]:
    spec = fleet.fleet.service_spec("users")
    return subprocess.run(
        [*spec.command, "replay-dead-letters", *args],
        env=spec.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _report(result: subprocess.CompletedProcess[str]) -> dict:
    """The command's answer: the one stdout line that is not a log record."""
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("{") and '"level"' not in ln]
    return json.loads(line)


def _docs_count(fleet: RunningFleet, username: str) -> int:
    resp = httpx.get(f"{fleet.gateway_url}/api/v1/users/{username}")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["stats"]["docs"])


async def test_a_dead_lettered_doc_event_is_replayed_once_by_the_command(fleet: RunningFleet) -> None:
    alice = await member(fleet, "replay")
    event_id = str(uuid.uuid4())
    created = docs_pb2.DocCreated(
        doc=docs_pb2.DocFacts(doc_id=str(uuid.uuid4()), author_id=alice.id, visibility="public", slug="x")
    )
    # What the users service's doc-counts consumer publishes when it gives up on an event.
    nc = await nats.connect(fleet.fleet.nats_url)
    try:
        await nc.jetstream().publish(
            "codegram.deadletter.users.doc-counts",
            created.SerializeToString(),
            headers={
                "Nats-Msg-Id": f"deadletter:users-doc-counts:{event_id}",
                "CodeGram-Event-Type": "codegram.events.v1.DocCreated",
                DEAD_LETTER_SUBJECT: "codegram.docs.doc.created",
                DEAD_LETTER_EVENT_ID: event_id,
                DEAD_LETTER_CONSUMER: "users-doc-counts",
                DEAD_LETTER_ATTEMPTS: "10",
                DEAD_LETTER_REASON: "OperationalError: the database was away",
            },
        )
    finally:
        await nc.close()
    assert _docs_count(fleet, alice.username) == 0

    first = _replay(fleet, "--consumer", "doc-counts")
    assert first.returncode == 0, first.stderr
    outcome = _report(first)
    assert outcome["users-doc-counts"]["replayed"] == 1
    assert outcome["users-doc-counts"]["failed"] == 0
    assert _docs_count(fleet, alice.username) == 1

    # Again, for every consumer: nothing is counted twice.
    again = _replay(fleet)
    assert again.returncode == 0, again.stderr
    outcome = _report(again)
    assert set(outcome) == {
        "users-snippet-counts",
        "users-doc-counts",
        "users-follow-counts",
        "users-github-profiles",
    }
    assert outcome["users-doc-counts"]["replayed"] == 0
    assert outcome["users-doc-counts"]["already_handled"] >= 1
    assert _docs_count(fleet, alice.username) == 1


def test_an_unknown_consumer_is_refused_with_the_known_ones(fleet: RunningFleet) -> None:
    result = _replay(fleet, "--consumer", "nope")
    assert result.returncode == 2
    known = "snippet-counts, doc-counts, follow-counts, github-profiles"
    assert f"no consumer 'nope' in users (it has: {known})" in result.stderr
