"""Sign in with GitHub (against the stand-in) and the token lifecycle, through the real gateway."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import redis.asyncio as aioredis

from codegram_devstack.fleet import RunningFleet
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc

REDIRECT = "http://localhost:3000/auth/callback"


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


def start(gateway: httpx.Client, redirect_uri: str = REDIRECT) -> dict:
    resp = gateway.get("/auth/github/authorize", params={"redirect_uri": redirect_uri})
    assert resp.status_code == 200, resp.text
    return resp.json()


def github_redirect(authorize_url: str, login: str = "octocat") -> dict[str, str]:
    """What the browser brings back after the person picks a demo account on the sign-in page."""
    resp = httpx.get(f"{authorize_url}&{urlencode({'login': login})}", follow_redirects=False)
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def sign_in(gateway: httpx.Client, login: str = "octocat") -> dict:
    started = start(gateway)
    back = github_redirect(started["authorize_url"], login)
    assert back["state"] == started["state"]
    resp = gateway.post("/auth/github/callback", json={"code": back["code"], "state": back["state"]})
    assert resp.status_code == 200, resp.text
    return resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    return resp.json()


def test_authorize_url_carries_state_and_pkce(fleet: RunningFleet, gateway: httpx.Client) -> None:
    started = start(gateway)
    url = urlsplit(started["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/login/oauth/authorize"
    assert query["state"] == started["state"] and len(started["state"]) >= 32
    assert query["redirect_uri"] == REDIRECT
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert start(gateway)["state"] != started["state"]


def test_full_sign_in_gives_working_tokens(gateway: httpx.Client) -> None:
    signed = sign_in(gateway, "monalisa")
    assert signed["token_type"] == "Bearer" and signed["expires_in"] == 900
    assert signed["user"]["username"] == "monalisa"
    assert signed["user"]["github"]["login"] == "monalisa"
    me = gateway.get("/users/me", headers=bearer(signed["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == signed["user"]["id"]
    assert me.json()["email"] == "mona@example.com"
    header = jwt.get_unverified_header(signed["access_token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt" and header["kid"]
    claims = jwt.decode(signed["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "sub", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900


def test_relogin_keeps_the_same_user(gateway: httpx.Client) -> None:
    first = sign_in(gateway, "hubot")
    second = sign_in(gateway, "hubot")
    assert first["user"]["id"] == second["user"]["id"]
    assert first["refresh_token"] != second["refresh_token"]


def test_private_github_email_comes_from_user_emails(gateway: httpx.Client) -> None:
    signed = sign_in(gateway, "hubot")
    me = gateway.get("/users/me", headers=bearer(signed["access_token"])).json()
    assert me["email"] == "hubot@users.noreply.example.com"


def test_redirect_uri_must_be_on_the_allowlist(gateway: httpx.Client) -> None:
    for uri in ("https://evil.example/callback", REDIRECT + "/", REDIRECT.upper()):
        body = assert_error(
            gateway.get("/auth/github/authorize", params={"redirect_uri": uri}), 400, "VALIDATION_ERROR"
        )
        assert body["error"]["details"][0]["field"] == "redirect_uri"


def test_unknown_state_is_400(gateway: httpx.Client) -> None:
    started = start(gateway)
    back = github_redirect(started["authorize_url"])
    resp = gateway.post("/auth/github/callback", json={"code": back["code"], "state": "made-up-state"})
    assert_error(resp, 400, "VALIDATION_ERROR")


def test_replayed_state_is_400(gateway: httpx.Client) -> None:
    started = start(gateway)
    back = github_redirect(started["authorize_url"])
    assert gateway.post("/auth/github/callback", json=back).status_code == 200
    assert_error(gateway.post("/auth/github/callback", json=back), 400, "VALIDATION_ERROR")


async def test_expired_state_is_400(fleet: RunningFleet, gateway: httpx.Client) -> None:
    started = start(gateway)
    back = github_redirect(started["authorize_url"])
    redis = aioredis.from_url(fleet.fleet.redis_url)
    try:
        key = f"auth:oauth-state:{started['state']}"
        assert await redis.ttl(key) > 0  # states expire by themselves
        await redis.pexpire(key, 1)
        await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    assert_error(gateway.post("/auth/github/callback", json=back), 400, "VALIDATION_ERROR")


def test_bad_code_is_401_and_spends_the_state(gateway: httpx.Client) -> None:
    started = start(gateway)
    github_redirect(started["authorize_url"])
    resp = gateway.post("/auth/github/callback", json={"code": "not-a-code", "state": started["state"]})
    assert_error(resp, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "body", [{}, {"code": "x"}, {"code": "x", "state": "y", "extra": 1}, {"code": "", "state": "y"}]
)
def test_malformed_callback_is_400(gateway: httpx.Client, body: dict) -> None:
    assert_error(gateway.post("/auth/github/callback", json=body), 400, "VALIDATION_ERROR")


def test_refresh_rotates_and_the_old_token_stops_working(gateway: httpx.Client) -> None:
    signed = sign_in(gateway)
    rotated = gateway.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != signed["refresh_token"] and pair["token_type"] == "Bearer"
    assert gateway.get("/users/me", headers=bearer(pair["access_token"])).status_code == 200
    again = gateway.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


def test_reuse_revokes_the_whole_family_including_the_newest_token(gateway: httpx.Client) -> None:
    signed = sign_in(gateway)
    newest = gateway.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]}).json()
    assert_error(
        gateway.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]}), 401, "UNAUTHORIZED"
    )
    assert_error(
        gateway.post("/auth/refresh", json={"refresh_token": newest["refresh_token"]}), 401, "UNAUTHORIZED"
    )
    # Another sign-in is another family, untouched.
    other = sign_in(gateway)
    assert gateway.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


def test_unknown_refresh_token_is_401(gateway: httpx.Client) -> None:
    assert_error(gateway.post("/auth/refresh", json={"refresh_token": "nope"}), 401, "UNAUTHORIZED")


async def test_concurrent_refreshes_exactly_one_wins(fleet: RunningFleet, gateway: httpx.Client) -> None:
    signed = sign_in(gateway)
    async with httpx.AsyncClient(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        replies = await asyncio.gather(
            *(client.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]}) for _ in range(5))
        )
    assert sorted(r.status_code for r in replies) == [200, 401, 401, 401, 401]


def test_logout_revokes_the_family(gateway: httpx.Client) -> None:
    signed = sign_in(gateway)
    body = {"refresh_token": signed["refresh_token"]}
    assert_error(gateway.post("/auth/logout", json=body), 401, "UNAUTHORIZED")
    assert gateway.post("/auth/logout", json=body, headers=bearer(signed["access_token"])).status_code == 204
    assert_error(gateway.post("/auth/refresh", json=body), 401, "UNAUTHORIZED")


def test_someone_elses_refresh_token_is_not_revoked_by_my_logout(gateway: httpx.Client) -> None:
    mine = sign_in(gateway, "octocat")
    theirs = sign_in(gateway, "monalisa")
    resp = gateway.post(
        "/auth/logout", json={"refresh_token": theirs["refresh_token"]}, headers=bearer(mine["access_token"])
    )
    assert resp.status_code == 204
    assert gateway.post("/auth/refresh", json={"refresh_token": theirs["refresh_token"]}).status_code == 200


def test_a_third_party_verifies_tokens_with_only_the_jwks(fleet: RunningFleet, gateway: httpx.Client) -> None:
    signed = sign_in(gateway)
    client = jwt.PyJWKClient(f"{fleet.gateway_url}/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(signed["access_token"])
    claims = jwt.decode(
        signed["access_token"], key.key, algorithms=["EdDSA"], audience="codegram-api", issuer="codegram"
    )
    assert claims["sub"] == signed["user"]["id"]


def test_jwks_holds_only_public_keys(fleet: RunningFleet) -> None:
    keys = httpx.get(f"{fleet.gateway_url}/.well-known/jwks.json").json()["keys"]
    assert keys
    for jwk in keys:
        assert jwk["kty"] == "OKP" and jwk["alg"] == "EdDSA" and jwk["kid"]
        assert "d" not in jwk


def auth_grpc(fleet: RunningFleet, call: str, request: object) -> object:
    """One call to the auth service's internal gRPC API."""

    async def go() -> object:
        async with create_channel(fleet.grpc_target("auth")) as channel:
            return await getattr(auth_pb2_grpc.AuthServiceStub(channel), call)(request)

    return asyncio.run(go())


def test_key_rotation_keeps_old_tokens_until_the_key_is_removed(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    before = sign_in(gateway)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    new_kid = auth_grpc(fleet, "RotateSigningKey", auth_pb2.RotateSigningKeyRequest()).kid
    after = sign_in(gateway)
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid != old_kid
    kids = [k["kid"] for k in httpx.get(f"{fleet.gateway_url}/.well-known/jwks.json").json()["keys"]]
    assert {new_kid, old_kid} <= set(kids)
    # The previous key still verifies: rotation logs nobody out.
    assert gateway.get("/users/me", headers=bearer(before["access_token"])).status_code == 200
    assert gateway.get("/users/me", headers=bearer(after["access_token"])).status_code == 200

    request = auth_pb2.RemoveRetiredKeysRequest(older_than_seconds=0)
    assert old_kid in auth_grpc(fleet, "RemoveRetiredKeys", request).removed_kids
    time.sleep(1.5)  # the services' JWKS cache (1 s in tests) lets go of the removed key
    assert_error(gateway.get("/users/me", headers=bearer(before["access_token"])), 401, "UNAUTHORIZED")
    assert gateway.get("/users/me", headers=bearer(after["access_token"])).status_code == 200


def test_github_token_custody_over_grpc(fleet: RunningFleet, gateway: httpx.Client) -> None:
    signed = sign_in(gateway, "octocat")
    reply = auth_grpc(fleet, "GetGitHubToken", auth_pb2.GetGitHubTokenRequest(user_id=signed["user"]["id"]))
    assert reply.access_token.startswith("gho_")
    user = httpx.get(f"http://127.0.0.1:{fleet.fleet.ports.standin}/user", headers=bearer(reply.access_token))
    assert user.json()["login"] == "octocat"
    assert reply.access_token not in fleet.log("auth")


def _standin(fleet: RunningFleet, control: str, body: dict) -> None:
    resp = httpx.post(f"http://127.0.0.1:{fleet.fleet.ports.standin}/_standin/{control}", json=body)
    assert resp.status_code == 204


def test_github_failing_is_502(fleet: RunningFleet, gateway: httpx.Client) -> None:
    started = start(gateway)
    back = github_redirect(started["authorize_url"])
    _standin(fleet, "fail", {"path_prefix": "/user", "status": 500, "times": 1})
    assert_error(gateway.post("/auth/github/callback", json=back), 502, "BAD_GATEWAY")


def test_github_slow_is_504_not_a_hang(fleet: RunningFleet, gateway: httpx.Client) -> None:
    started = start(gateway)
    back = github_redirect(started["authorize_url"])
    _standin(fleet, "delay", {"seconds": 8})
    try:
        began = time.monotonic()
        assert_error(gateway.post("/auth/github/callback", json=back), 504, "GATEWAY_TIMEOUT")
        assert time.monotonic() - began < 8
    finally:
        _standin(fleet, "delay", {"seconds": 0})


def test_secrets_are_encrypted_at_rest(fleet: RunningFleet, gateway: httpx.Client) -> None:
    import psycopg

    sign_in(gateway, "octocat")
    with psycopg.connect(fleet.fleet.admin_url()) as conn:
        keys = conn.execute("SELECT private_key_encrypted FROM auth.signing_keys").fetchall()
        tokens = conn.execute("SELECT token_encrypted FROM auth.github_tokens").fetchall()
        hashes = conn.execute("SELECT token_hash FROM auth.refresh_tokens LIMIT 5").fetchall()
    assert keys and tokens and hashes
    assert all(b"PRIVATE KEY" not in bytes(k) for (k,) in keys)
    assert all(not bytes(t).startswith(b"gho_") for (t,) in tokens)
    assert all(len(bytes(h)) == 32 for (h,) in hashes)  # only SHA-256 digests are stored


async def test_sign_in_publishes_signed_in(gateway: httpx.Client, subscribe) -> None:
    from codegram_proto.codegram.events.v1 import auth_pb2 as auth_events

    collect = await subscribe("codegram.auth.user.signed_in")
    signed = await asyncio.to_thread(sign_in, gateway, "linus-dev")
    user_id = signed["user"]["id"]
    mine = await collect(lambda m: auth_events.UserSignedIn.FromString(m.data).user_id == user_id)
    assert len(mine) == 1
    assert mine[0].headers["CodeGram-Event-Type"] == "codegram.events.v1.UserSignedIn"
