"""The users endpoints of API.md, driven through the real gateway, users service, Postgres and NATS."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import pytest
from grpc import aio

from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

_ids = itertools.count(1_000_000 + (uuid.uuid4().int % 1_000_000) * 1000)


async def upsert_github_user(fleet: RunningFleet, login: str, **fields: object) -> users_pb2.User:
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        reply = await stub.UpsertGitHubUser(
            users_pb2.UpsertGitHubUserRequest(
                github_id=int(fields.pop("github_id", next(_ids))),
                login=login,
                **fields,  # type: ignore[arg-type]
            )
        )
        return reply.user


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=10) as client:
        yield client


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


async def test_get_user_by_username_through_the_gateway(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = unique("Octo")
    created = await upsert_github_user(
        fleet, login, name="The Octocat", bio="hi", followers=7, public_repos=3
    )

    resp = gateway.get(f"/users/{login.lower()}")

    assert resp.status_code == 200, resp.text
    user = resp.json()
    assert user["id"] == created.id
    assert user["username"] == login
    assert user["full_name"] == "The Octocat"
    assert user["stats"] == {"followers": 0, "following": 0, "snippets": 0, "docs": 0}
    assert user["github"]["login"] == login and user["github"]["followers"] == 7
    assert "email" not in user
    assert user["created_at"].endswith("Z") or user["created_at"].endswith("+00:00")
    assert resp.headers["x-request-id"]


async def test_unknown_user_is_404_in_the_envelope(gateway: httpx.Client) -> None:
    assert_error(gateway.get("/users/nobody-at-all-here"), 404, "NOT_FOUND")


async def test_etag_answers_304(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = unique("etag")
    await upsert_github_user(fleet, login)
    first = gateway.get(f"/users/{login}")
    again = gateway.get(f"/users/{login}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_me_requires_a_valid_token(fleet: RunningFleet, gateway: httpx.Client) -> None:
    assert_error(gateway.get("/users/me"), 401, "UNAUTHORIZED")
    assert_error(gateway.get("/users/me", headers={"Authorization": "Bearer nonsense"}), 401, "UNAUTHORIZED")
    expired = fleet.fleet.signing_key.mint(str(uuid.uuid4()), ttl=-3600)
    assert_error(
        gateway.get("/users/me", headers={"Authorization": f"Bearer {expired}"}), 401, "UNAUTHORIZED"
    )


async def test_me_and_patch_me(fleet: RunningFleet, gateway: httpx.Client) -> None:
    user = await upsert_github_user(fleet, unique("me"), email="Me@Example.com")
    auth = {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(user.id)}"}

    me = gateway.get("/users/me", headers=auth).json()
    assert me["id"] == user.id and me["email"] == "Me@Example.com"

    resp = gateway.patch(
        "/users/me",
        headers=auth,
        json={"full_name": "New Name", "bio": "I write code", "website": "https://example.com/me"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["full_name"] == "New Name"
    public = gateway.get(f"/users/{user.username}").json()
    assert public["bio"] == "I write code" and public["website"] == "https://example.com/me"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"website": "javascript:alert(1)"}, "website"),
        ({"email": "not-an-email"}, "email"),
        ({"bio": "x" * 501}, "bio"),
        ({"username": "takeover"}, "username"),
        ({"full_name": 42}, "full_name"),
    ],
)
async def test_bad_patch_is_400_with_field_details_and_changes_nothing(
    fleet: RunningFleet, gateway: httpx.Client, body: dict, field: str
) -> None:
    user = await upsert_github_user(fleet, unique("bad"), name="Before")
    auth = {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(user.id)}"}

    error = assert_error(gateway.patch("/users/me", headers=auth, json=body), 400, "VALIDATION_ERROR")

    assert field in [d["field"] for d in error["error"]["details"]]
    assert gateway.get("/users/me", headers=auth).json()["full_name"] == "Before"


async def test_malformed_json_is_400(fleet: RunningFleet, gateway: httpx.Client) -> None:
    user = await upsert_github_user(fleet, unique("json"))
    auth = {
        "Authorization": f"Bearer {fleet.fleet.signing_key.mint(user.id)}",
        "Content-Type": "application/json",
    }
    assert_error(gateway.patch("/users/me", headers=auth, content=b"{not json"), 400, "VALIDATION_ERROR")


async def test_search_by_prefix_pages_with_cursor_and_link(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    prefix = unique("srch")
    names = sorted(f"{prefix}{i:02d}" for i in range(5))
    for name in names:
        await upsert_github_user(fleet, name)
    by_name = await upsert_github_user(fleet, unique("other"), name=f"{prefix.upper()} By Name")

    seen: list[str] = []
    resp = gateway.get("/users", params={"q": prefix, "limit": 2})
    pages = 0
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["pagination"]["limit"] == 2
        seen += [u["username"] for u in body["data"]]
        pages += 1
        if body["pagination"]["next_cursor"] is None:
            assert "link" not in resp.headers
            break
        assert 'rel="next"' in resp.headers["link"]
        resp = gateway.get(
            "/users", params={"q": prefix, "limit": 2, "cursor": body["pagination"]["next_cursor"]}
        )

    assert pages == 3
    # Username matches and the full-name match, each once, in case-insensitive username order.
    assert seen == sorted([*names, by_name.username], key=str.lower)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "%%%not-a-cursor"}, {"cursor": "e30"}],
)
async def test_bad_list_parameters_are_400(gateway: httpx.Client, params: dict) -> None:
    assert_error(gateway.get("/users", params=params), 400, "VALIDATION_ERROR")


async def test_search_treats_like_wildcards_literally(fleet: RunningFleet, gateway: httpx.Client) -> None:
    await upsert_github_user(fleet, unique("wild"))
    assert gateway.get("/users", params={"q": "%"}).json()["data"] == []
    assert gateway.get("/users", params={"q": "_"}).json()["data"] == []


async def test_grpc_get_users_batches_and_skips_unknown_ids(fleet: RunningFleet) -> None:
    a = await upsert_github_user(fleet, unique("ga"))
    b = await upsert_github_user(fleet, unique("gb"))
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        reply = await stub.GetUsers(
            users_pb2.GetUsersRequest(ids=[a.id, b.id, str(uuid.uuid4()), "not-a-uuid", a.id])
        )
    assert sorted(u.id for u in reply.users) == sorted([a.id, b.id])


async def test_grpc_get_user_unknown_is_not_found(fleet: RunningFleet) -> None:
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetUser(users_pb2.GetUserRequest(id=str(uuid.uuid4())))
    assert err.value.code().name == "NOT_FOUND"


async def test_relogin_keeps_the_same_user(fleet: RunningFleet) -> None:
    gid = next(_ids)
    login = unique("re")
    first = await upsert_github_user(fleet, login, github_id=gid, followers=1)
    second = await upsert_github_user(fleet, login, github_id=gid, followers=2)
    assert first.id == second.id
    assert second.github.followers == 2


async def test_concurrent_gets_do_not_fail(fleet: RunningFleet, gateway: httpx.Client) -> None:
    login = unique("many")
    await upsert_github_user(fleet, login)
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1") as client:
        replies = await asyncio.gather(*(client.get(f"/users/{login}") for _ in range(30)))
    assert {r.status_code for r in replies} == {200}


async def test_profile_update_publishes_one_updated_event(
    fleet: RunningFleet, gateway: httpx.Client, subscribe
) -> None:
    from codegram_proto.codegram.events.v1 import users_pb2 as events_pb2

    user = await upsert_github_user(fleet, unique("evt"))
    auth = {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(user.id)}"}
    collect = await subscribe("codegram.users.user.updated")
    resp = await asyncio.to_thread(
        gateway.patch, "/users/me", headers=auth, json={"location": "Lisbon", "bio": "events"}
    )
    assert resp.status_code == 200
    await asyncio.to_thread(
        gateway.patch, "/users/me", headers=auth, json={"location": "Lisbon"}
    )  # no change

    mine = await collect(lambda m: events_pb2.UserUpdated.FromString(m.data).user_id == user.id, 1.5)
    assert len(mine) == 1
    assert mine[0].headers["CodeGram-Event-Type"] == "codegram.events.v1.UserUpdated"
    assert mine[0].headers["Nats-Msg-Id"]
    assert sorted(events_pb2.UserUpdated.FromString(mine[0].data).changed_fields) == ["bio", "location"]


async def test_grpc_calls_without_a_deadline_still_answer(fleet: RunningFleet) -> None:
    async with aio.insecure_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        reply = await stub.GetUsers(users_pb2.GetUsersRequest(ids=[]))
    assert list(reply.users) == []


async def test_grpc_batch_limit_is_invalid_argument(fleet: RunningFleet) -> None:
    async with create_channel(fleet.grpc_target("users")) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetUsers(users_pb2.GetUsersRequest(ids=[str(uuid.uuid4()) for _ in range(501)]))
    assert err.value.code().name == "INVALID_ARGUMENT"
