"""The sync schedules: `codegram-github enqueue` enqueues once per user and day however often and
however many at once run it, repositories only for users active in the last 30 days."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from codegram_devstack.fleet import RunningFleet
from tests.e2e.github_helpers import new_account, sign_in, synced


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=20) as client:
        yield client


def enqueue(fleet: RunningFleet, schedule: str, copies: int = 1) -> list[dict]:
    """Run the CronJob's command `copies` times at once, as the github service's Deployment would."""
    spec = fleet.fleet.service_spec("github")
    runs = [
        subprocess.Popen([*spec.command, "enqueue", schedule], env=spec.env, stdout=subprocess.PIPE)
        for _ in range(copies)
    ]
    outputs = []
    for run in runs:
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
    return outputs


def jobs_of(fleet: RunningFleet, user_ids: list[str], kind: str) -> list[tuple[str, str]]:
    with psycopg.connect(fleet.fleet.admin_url()) as conn:
        rows = conn.execute(
            "SELECT user_id::text, status FROM github.sync_jobs WHERE kind = %s AND user_id::text = ANY(%s)",
            (kind, user_ids),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_a_schedule_enqueues_once_per_user_and_day(fleet: RunningFleet, gateway: httpx.Client) -> None:
    (auth_a, a), (auth_b, b), (auth_c, c) = (sign_in(gateway, new_account(fleet)) for _ in range(3))
    for auth in (auth_a, auth_b, auth_c):
        synced(gateway, auth)  # their first syncs are over
    # c last signed in 40 days ago: not active, so no daily repositories sync, but a weekly profile.
    with psycopg.connect(fleet.fleet.admin_url()) as conn:
        conn.execute(
            "UPDATE github.accounts SET last_signed_in_at = now() - interval '40 days' WHERE user_id = %s",
            (c["id"],),
        )
    ids = [a["id"], b["id"], c["id"]]

    first = enqueue(fleet, "repos", copies=2)  # two replicas of the CronJob at once
    assert sum(o["enqueued"] for o in first) == first[0]["eligible"] >= 2  # each user by one of them
    again = enqueue(fleet, "repos")  # a rerun the same day
    assert again[0]["enqueued"] == 0 and again[0]["skipped"] == again[0]["eligible"]
    assert sorted(u for u, _ in jobs_of(fleet, ids, "repos")) == sorted([a["id"], b["id"]])

    profiles = enqueue(fleet, "profiles", copies=2)
    assert sum(o["enqueued"] for o in profiles) == profiles[0]["eligible"] >= 3
    assert enqueue(fleet, "profiles")[0]["enqueued"] == 0
    assert sorted(u for u, _ in jobs_of(fleet, ids, "profile")) == sorted(ids)

    # The enqueued jobs run: through the outbox to the work queue, then the sync.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = {s for _, s in jobs_of(fleet, ids, "repos") + jobs_of(fleet, ids, "profile")}
        if statuses == {"succeeded"}:
            break
        time.sleep(0.3)
    assert statuses == {"succeeded"}
