"""Helpers of the GitHub end-to-end tests: accounts on the stand-in, sign-in, its controls and call log,
and waiting for a sync job."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from codegram_devstack.fleet import RunningFleet

REDIRECT = "http://localhost:3000/auth/callback"


def standin(fleet: RunningFleet) -> str:
    return f"http://127.0.0.1:{fleet.fleet.ports.standin}"


def control(fleet: RunningFleet, name: str, body: dict[str, Any]) -> None:
    resp = httpx.post(f"{standin(fleet)}/_standin/{name}", json=body, timeout=10)
    assert resp.status_code in (201, 204), resp.text


def new_account(fleet: RunningFleet, **numbers: Any) -> str:
    """A GitHub account only this test uses (its login)."""
    login = f"gh{uuid.uuid4().hex[:10]}"
    control(fleet, "accounts", {"login": login, **numbers})
    return login


def calls(fleet: RunningFleet, login: str, since: float = 0.0) -> list[dict[str, Any]]:
    resp = httpx.get(f"{standin(fleet)}/_standin/log", params={"login": login, "since": since}, timeout=10)
    return list(resp.json()["calls"])


def sign_in(gateway: httpx.Client, login: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Sign in through the gateway as the stand-in's `login`: (auth headers, the user)."""
    started = gateway.get("/auth/github/authorize", params={"redirect_uri": REDIRECT}).json()
    back = httpx.get(f"{started['authorize_url']}&{urlencode({'login': login})}", follow_redirects=False)
    assert back.status_code == 302, back.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    resp = gateway.post("/auth/github/callback", json={"code": query["code"], "state": query["state"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, body["user"]


def request_sync(gateway: httpx.Client, auth: dict[str, str]) -> str:
    resp = gateway.post("/github/sync", headers=auth)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] in ("queued", "running")
    return str(resp.json()["job_id"])


def wait_job(gateway: httpx.Client, auth: dict[str, str], job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job once it has succeeded or failed."""
    deadline = time.monotonic() + timeout
    while True:
        resp = gateway.get(f"/github/sync/{job_id}", headers=auth)
        assert resp.status_code == 200, resp.text
        if resp.json()["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return dict(resp.json())
        time.sleep(0.2)


def synced(gateway: httpx.Client, auth: dict[str, str]) -> dict[str, Any]:
    """A sync of the caller's GitHub account run to its end (the first sign-in's, if still going)."""
    job = wait_job(gateway, auth, request_sync(gateway, auth))
    assert job["status"] == "succeeded", job
    return job


def all_repos(gateway: httpx.Client, username: str, sort: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sort": sort, "limit": 50}
    while True:
        resp = gateway.get(f"/users/{username}/repos", params=params)
        assert resp.status_code == 200, resp.text
        found += resp.json()["data"]
        cursor = resp.json()["pagination"]["next_cursor"]
        if cursor is None:
            return found
        params["cursor"] = cursor
