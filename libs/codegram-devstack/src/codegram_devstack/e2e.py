"""Helpers the end-to-end tests share: members with tokens, the error envelope, ids of a list page."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import httpx

from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

# GitHub ids no other test run on the same database is likely to use.
_github_ids = itertools.count(5_000_000 + (uuid.uuid4().int % 1_000_000) * 1000)


@dataclass
class Member:
    id: str
    username: str
    auth: dict[str, str]


async def member(fleet: RunningFleet, name: str = "dev") -> Member:
    """A new user (through the users service, as a GitHub sign-in makes one) with a bearer token."""
    login = f"{name}{uuid.uuid4().hex[:8]}"
    async with create_channel(fleet.grpc_target("users")) as channel:
        reply = await users_pb2_grpc.UsersServiceStub(channel).UpsertGitHubUser(
            users_pb2.UpsertGitHubUserRequest(github_id=next(_github_ids), login=login, name=f"{name} Person")
        )
    token = fleet.fleet.signing_key.mint(reply.user.id)
    return Member(reply.user.id, reply.user.username, {"Authorization": f"Bearer {token}"})


def tag() -> str:
    """A tag no other test uses: it scopes lists and searches to one test's items."""
    return f"t{uuid.uuid4().hex[:12]}"


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    """The response is API.md's error envelope with this status and code, and the request's id."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def ids(resp: httpx.Response) -> list[str]:
    """The ids of a 200 list or search page, in order."""
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json()["data"]]
