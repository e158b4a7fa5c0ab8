"""Sign-in holds no database transaction while it waits on GitHub or the users service.

The auth app runs in this process against the fleet's Postgres, Redis, users service and GitHub
stand-in; the peers' calls are wrapped to record, while they run, how many units of work are open
and how many pooled connections are checked out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.__main__ import SERVICE
from codegram_auth.github_client import GitHubIdentity, GitHubOAuth
from codegram_clients.users import GitHubAccount, UsersClient
from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc

REDIRECT = "http://localhost:3000/auth/callback"


class Recorder:
    """What happened, in order: each unit of work opened, and the database as each peer call found it."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.open_units = 0
        self.steps: list[tuple[str, int, int]] = []

    def note(self, step: str) -> None:
        self.steps.append((step, self.open_units, self.runtime.db.engine.pool.checkedout()))


@pytest.fixture
def auth_app(fleet: RunningFleet, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FastAPI, Recorder]]:
    for name, value in fleet.fleet.service_spec("auth").env.items():
        monkeypatch.setenv(name, value)
    # No lifespan runs here (the fleet's auth process holds the ports); only the HTTP door is used.
    app = SERVICE.create_app(SERVICE.settings())
    runtime: ServiceRuntime = app.state.runtime
    recorder = Recorder(runtime)
    unit_of_work = runtime.db.unit_of_work

    @asynccontextmanager
    async def counted_unit_of_work() -> AsyncIterator[AsyncSession]:
        recorder.open_units += 1
        recorder.note("unit of work")
        try:
            async with unit_of_work() as session:
                yield session
        finally:
            recorder.open_units -= 1

    sign_in = GitHubOAuth.sign_in

    async def github_sign_in(self: GitHubOAuth, **kwargs: str) -> GitHubIdentity:
        recorder.note("github")
        identity = await sign_in(self, **kwargs)
        recorder.note("github answered")
        return identity

    upsert = UsersClient.upsert_github_user

    async def users_upsert(self: UsersClient, account: GitHubAccount) -> Any:
        recorder.note("users")
        answer = await upsert(self, account)
        recorder.note("users answered")
        return answer

    monkeypatch.setattr(runtime.db, "unit_of_work", counted_unit_of_work)
    monkeypatch.setattr(GitHubOAuth, "sign_in", github_sign_in)
    monkeypatch.setattr(UsersClient, "upsert_github_user", users_upsert)
    yield app, recorder


async def _close(runtime: ServiceRuntime) -> None:
    await runtime.close_channels()
    await runtime.db.dispose()
    if runtime.redis is not None:
        await runtime.redis.aclose()


async def test_sign_in_calls_github_and_users_first_then_writes_in_one_short_transaction(
    fleet: RunningFleet, auth_app: tuple[FastAPI, Recorder]
) -> None:
    app, recorder = auth_app
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as auth:
            started = await auth.get("/api/v1/auth/github/authorize", params={"redirect_uri": REDIRECT})
            assert started.status_code == 200, started.text
            async with httpx.AsyncClient() as browser:
                picked = await browser.get(
                    f"{started.json()['authorize_url']}&{urlencode({'login': 'hubot'})}"
                )
            assert picked.status_code == 302, picked.text
            back = {k: v[0] for k, v in parse_qs(urlsplit(picked.headers["location"]).query).items()}

            recorder.steps.clear()
            signed = await auth.post("/api/v1/auth/github/callback", json=back)
            assert signed.status_code == 200, signed.text
            assert signed.json()["user"]["github"]["login"] == "hubot"
            assert recorder.steps == [
                ("github", 0, 0),
                ("github answered", 0, 0),
                ("users", 0, 0),
                ("users answered", 0, 0),
                ("unit of work", 1, 0),
            ]

            # What that one transaction wrote is there: the refresh family and the GitHub token.
            refreshed = await auth.post(
                "/api/v1/auth/refresh", json={"refresh_token": signed.json()["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
        async with create_channel(fleet.grpc_target("auth")) as channel:
            custody = await auth_pb2_grpc.AuthServiceStub(channel).GetGitHubToken(
                auth_pb2.GetGitHubTokenRequest(user_id=signed.json()["user"]["id"])
            )
        assert custody.access_token
    finally:
        await _close(app.state.runtime)
