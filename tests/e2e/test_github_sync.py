"""GitHub syncs through the gateway against the stand-in: what a sync stores, the jobs API, retries,
dead letters, GitHub's rate limits and conditional requests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from codegram_devstack.fleet import RunningFleet, wait_ready
from codegram_devstack.github_demo_data import languages, made_account, repos
from tests.e2e.github_helpers import (
    all_repos,
    calls,
    control,
    new_account,
    request_sync,
    sign_in,
    standin,
    synced,
    wait_job,
)


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=20) as client:
        yield client


def wait_profile(gateway: httpx.Client, username: str, followers: int) -> dict:
    deadline = time.monotonic() + 15
    while True:
        github = gateway.get(f"/users/{username}").json()["github"]
        if github["followers"] == followers or time.monotonic() > deadline:
            return dict(github)
        time.sleep(0.2)


def test_a_sync_stores_repositories_languages_and_the_profile(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    login = new_account(fleet, repo_count=120, followers=5)
    auth, user = sign_in(gateway, login)
    # The first sign-in's own sync runs to its end first: a sync asked for while it still runs is
    # that one, which may have read GitHub before the change below.
    synced(gateway, auth)
    # GitHub's numbers change after sign-in; the next sync brings them to the profile.
    control(fleet, "accounts", {"login": login, "repo_count": 120, "followers": 55, "following": 6})
    before = time.time()
    synced(gateway, auth)

    account = made_account(login, repo_count=120)
    expected = repos(account, "")
    by_stars = all_repos(gateway, user["username"], "stars")
    assert sorted(r["full_name"] for r in by_stars) == sorted(r["full_name"] for r in expected)
    assert [r["stars"] for r in by_stars] == sorted((r["stars"] for r in by_stars), reverse=True)
    by_push = all_repos(gateway, user["username"], "pushed")
    assert [r["pushed_at"] for r in by_push] == sorted((r["pushed_at"] for r in by_push), reverse=True)
    first = next(r for r in by_stars if r["name"] == expected[0]["name"])
    assert first["html_url"].endswith(expected[0]["html_url"])

    stats = gateway.get(f"/users/{user['username']}/languages")
    assert stats.status_code == 200, stats.text
    totals: dict[str, int] = {}
    for repo in expected:
        for language, size in languages(account, repo["name"]).items():
            totals[language] = totals.get(language, 0) + size
    assert {s["language"]: s["bytes"] for s in stats.json()} == totals
    assert sum(s["share"] for s in stats.json()) == pytest.approx(1.0, abs=1e-9)
    assert [s["bytes"] for s in stats.json()] == sorted(totals.values(), reverse=True)

    # The languages of 120 repositories were asked for in parallel, never more than 8 at once per token.
    most = httpx.get(f"{standin(fleet)}/_standin/log", params={"login": login}).json()["most_in_flight"]
    assert 1 < most <= 8

    github = wait_profile(gateway, user["username"], 55)
    assert (github["login"], github["followers"], github["following"], github["public_repos"]) == (
        login,
        55,
        6,
        120,
    )
    assert github["synced_at"] is not None
    assert time.mktime(time.strptime(github["synced_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone >= int(
        before
    )


def test_a_sync_already_under_way_is_returned(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet)
    control(fleet, "delay", {"login": login, "path_prefix": f"/users/{login}/repos", "seconds": 2})
    auth, _ = sign_in(gateway, login)
    first, second = request_sync(gateway, auth), request_sync(gateway, auth)
    assert first == second
    assert wait_job(gateway, auth, first)["status"] == "succeeded"
    third = request_sync(gateway, auth)  # the first one is over: a new one
    assert third != first
    assert wait_job(gateway, auth, third)["status"] == "succeeded"


def test_someone_elses_job_is_404(fleet: RunningFleet, gateway: httpx.Client) -> None:
    owner, _ = sign_in(gateway, new_account(fleet))
    other, _ = sign_in(gateway, new_account(fleet))
    job_id = request_sync(gateway, owner)
    assert gateway.get(f"/github/sync/{job_id}", headers=owner).status_code == 200
    refused = gateway.get(f"/github/sync/{job_id}", headers=other)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert gateway.get("/github/sync/not-an-id", headers=owner).status_code == 404
    assert gateway.post("/github/sync").status_code == 401
    assert gateway.get(f"/github/sync/{job_id}").status_code == 401


def test_github_failing_twice_then_succeeding_is_retried(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet)
    control(
        fleet, "fail", {"login": login, "path_prefix": f"/users/{login}/repos", "status": 502, "times": 2}
    )
    auth, user = sign_in(gateway, login)
    job = wait_job(gateway, auth, request_sync(gateway, auth))
    assert job["status"] == "succeeded" and job["attempts"] >= 2, job
    assert job["error"] is None and job["finished_at"] is not None
    listing = [c for c in calls(fleet, login) if c["path"] == f"/users/{login}/repos"]
    assert [c["status"] for c in listing][:3] == [502, 502, 200]
    assert len(all_repos(gateway, user["username"], "stars")) == 4


async def test_exhausted_retries_fail_the_job_and_dead_letter_it(
    fleet: RunningFleet, gateway: httpx.Client, subscribe
) -> None:
    import asyncio

    collect = await subscribe("codegram.deadletter.github.>")
    login = new_account(fleet)
    control(
        fleet, "fail", {"login": login, "path_prefix": f"/users/{login}/repos", "status": 503, "times": 3}
    )
    auth, _ = await asyncio.to_thread(sign_in, gateway, login)
    job_id = await asyncio.to_thread(request_sync, gateway, auth)
    job = await asyncio.to_thread(wait_job, gateway, auth, job_id)
    assert job["status"] == "failed" and job["attempts"] == 3, job
    assert "503" in job["error"] and job["finished_at"] is not None
    letters = await collect(lambda m: job_id.encode() in m.data)
    assert len(letters) == 1
    await asyncio.sleep(1)
    listing = [c for c in calls(fleet, login) if c["path"] == f"/users/{login}/repos"]
    assert [c["status"] for c in listing] == [503, 503, 503]  # nothing after the last attempt


def test_a_rate_limit_window_is_waited_out_without_a_request(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    login = new_account(fleet)
    window = 3
    control(
        fleet,
        "rate-limit",
        {"login": login, "path_prefix": f"/users/{login}/repos", "reset_in": window, "start": "first_call"},
    )
    auth, _ = sign_in(gateway, login)
    job = wait_job(gateway, auth, request_sync(gateway, auth))
    assert job["status"] == "succeeded" and job["attempts"] == 1, job  # a wait is not an attempt
    log = calls(fleet, login)
    limited = [c for c in log if c["status"] == 403]
    assert len(limited) == 1
    reset = limited[0]["t"] + window
    assert not [c for c in log if limited[0]["t"] < c["t"] < reset]
    assert [c for c in log if c["t"] >= reset and c["status"] in (200, 304)]


def test_a_secondary_limit_is_waited_out_for_retry_after(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet)
    control(
        fleet,
        "secondary-limit",
        {"login": login, "path_prefix": f"/users/{login}/repos", "retry_after": 2, "times": 1},
    )
    auth, _ = sign_in(gateway, login)
    job = wait_job(gateway, auth, request_sync(gateway, auth))
    assert job["status"] == "succeeded" and job["attempts"] == 1, job
    log = calls(fleet, login)
    limited = [c for c in log if c["status"] == 403]
    assert len(limited) == 1
    assert not [c for c in log if limited[0]["t"] < c["t"] < limited[0]["t"] + 2]


def test_a_resync_of_unchanged_data_costs_no_quota(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet, repo_count=6)
    auth, user = sign_in(gateway, login)
    synced(gateway, auth)
    since = time.time()
    synced(gateway, auth)
    resync = calls(fleet, login, since)
    assert len(resync) == 1 + 1 + 6  # the profile, one page of repositories, their languages
    assert {c["status"] for c in resync} == {304} and not any(c["counted"] for c in resync)
    assert all(c["conditional"] for c in resync)
    assert len(all_repos(gateway, user["username"], "stars")) == 6


def test_a_first_sign_in_syncs_by_itself(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet, repo_count=3)
    _, user = sign_in(gateway, login)
    deadline = time.monotonic() + 30
    while not (found := all_repos(gateway, user["username"], "pushed")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(found) == 3
    assert gateway.get(f"/users/{user['username']}/languages").json()


def test_the_github_service_reports_job_outcomes_queue_depth_and_quota(fleet: RunningFleet) -> None:
    metrics = httpx.get(f"{fleet.http_url('github')}/metrics").text
    assert 'codegram_jobs_total{kind="sync",outcome="succeeded",service="github"}' in metrics
    assert 'codegram_job_queue_depth{kind="sync",service="github"}' in metrics
    assert 'codegram_github_rate_limit_remaining{resource="core"}' in metrics
    assert 'codegram_github_requests_total{outcome="304"}' in metrics


async def test_the_github_token_is_never_logged_nor_published(
    fleet: RunningFleet, gateway: httpx.Client, subscribe
) -> None:
    import asyncio

    from codegram_kit.grpc.client import create_channel
    from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc

    collect = await subscribe("codegram.github.>")
    login = new_account(fleet)
    auth, user = await asyncio.to_thread(sign_in, gateway, login)
    await asyncio.to_thread(synced, gateway, auth)
    async with create_channel(fleet.grpc_target("auth")) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).GetGitHubToken(
            auth_pb2.GetGitHubTokenRequest(user_id=user["id"])
        )
    token = reply.access_token.encode()
    events = await collect(lambda m: user["id"].encode() in m.data)
    assert events and not any(token in m.data for m in events)
    assert reply.access_token not in fleet.log("github")


def test_repositories_gone_from_github_are_removed(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = new_account(fleet, repo_count=5)
    auth, user = sign_in(gateway, login)
    synced(gateway, auth)
    assert len(all_repos(gateway, user["username"], "stars")) == 5
    control(fleet, "accounts", {"login": login, "repo_count": 3})
    synced(gateway, auth)
    left = all_repos(gateway, user["username"], "stars")
    assert sorted(r["name"] for r in left) == sorted(
        r["name"] for r in repos(made_account(login, repo_count=3), "")
    )
    account = made_account(login, repo_count=3)
    totals: dict[str, int] = {}
    for repo in repos(account, ""):
        for language, size in languages(account, repo["name"]).items():
            totals[language] = totals.get(language, 0) + size
    stats = gateway.get(f"/users/{user['username']}/languages").json()
    assert {s["language"]: s["bytes"] for s in stats} == totals


def test_a_sync_whose_process_is_killed_runs_again_to_its_end(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    login = new_account(fleet, repo_count=150, followers=3)
    auth, user = sign_in(gateway, login)
    synced(gateway, auth)
    # GitHub changes, and the next sync is slow enough to be killed in the middle of it.
    control(fleet, "accounts", {"login": login, "repo_count": 150, "followers": 77, "following": 2})
    repos_path = f"/users/{login}/repos"
    control(fleet, "delay", {"login": login, "path_prefix": repos_path, "seconds": 1.5})
    asked = time.time()
    job_id = request_sync(gateway, auth)
    deadline = time.monotonic() + 20
    while not [c for c in calls(fleet, login, asked) if c["path"] == repos_path]:
        assert time.monotonic() < deadline, "the sync never reached GitHub"
        time.sleep(0.1)
    github = fleet.processes["github"]
    github.kill()  # SIGKILL: no shutdown, no settling of the job it was running
    github.wait(10)
    try:
        assert gateway.get(f"/github/sync/{job_id}", headers=auth).status_code == 503
    finally:
        control(fleet, "delay", {"login": login, "path_prefix": repos_path, "seconds": 0})
        fleet.launch("github")
        assert not wait_ready({"github": fleet.fleet.ports.http["github"]}, 60)
    restarted = time.time()

    job = wait_job(gateway, auth, job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    # The run after the restart is the one that finished: it called GitHub again.
    assert [c for c in calls(fleet, login, restarted) if c["path"] == repos_path]
    assert wait_profile(gateway, user["username"], 77)["followers"] == 77
    names = [r["full_name"] for r in all_repos(gateway, user["username"], "stars")]
    assert len(names) == len(set(names)) == 150
