"""Edge policies at the real gateway: the body limit and CORS (API.md "General rules")."""

from __future__ import annotations

import json

import httpx

from codegram_devstack.fleet import RunningFleet

ALLOWED = "http://localhost:3000"
TWO_MIB = 2 * 1024 * 1024


def test_a_declared_2_mib_body_is_413_without_reaching_the_service(fleet: RunningFleet) -> None:
    body = json.dumps({"bio": "x" * TWO_MIB}).encode()
    resp = httpx.patch(
        f"{fleet.gateway_url}/api/v1/users/me", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert resp.json()["request_id"] == resp.headers["x-request-id"]


def test_a_streamed_body_is_cut_off_at_the_limit(fleet: RunningFleet) -> None:
    def chunks():
        for _ in range(TWO_MIB // 65536):
            yield b"x" * 65536

    resp = httpx.patch(
        f"{fleet.gateway_url}/api/v1/users/me", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_body_under_the_limit_reaches_the_service(fleet: RunningFleet) -> None:
    body = json.dumps({"bio": "x" * 1000}).encode()
    token = fleet.fleet.signing_key.mint("00000000-0000-0000-0000-000000000000")
    resp = httpx.patch(
        f"{fleet.gateway_url}/api/v1/users/me",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    # The users service answered: the bio is too long for a profile.
    assert resp.status_code == 400 and resp.json()["error"]["details"][0]["field"] == "bio"


def test_preflight_from_an_allowed_origin(fleet: RunningFleet) -> None:
    resp = httpx.options(
        f"{fleet.gateway_url}/api/v1/users/me",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert resp.headers["access-control-max-age"] == "600"
    assert "PATCH" in resp.headers["access-control-allow-methods"]
    assert resp.headers["x-request-id"]


def test_preflight_from_another_origin_is_refused(fleet: RunningFleet) -> None:
    resp = httpx.options(
        f"{fleet.gateway_url}/api/v1/users/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert resp.status_code == 400
    assert "access-control-allow-origin" not in resp.headers


def test_simple_requests_get_cors_headers_only_for_allowed_origins(fleet: RunningFleet) -> None:
    url = f"{fleet.gateway_url}/api/v1/users?limit=1"
    allowed = httpx.get(url, headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    other = httpx.get(url, headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def _forged(fleet: RunningFleet) -> dict[str, str]:
    """RFC 8725's list of ways to forge or misuse a token."""
    import base64
    import hashlib
    import hmac
    import time

    key = fleet.fleet.signing_key

    def b64(data: dict | bytes) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header, payload, signature = key.mint("someone").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    hs_header = b64({"alg": "HS256", "typ": "at+jwt", "kid": "codegram-test-key"})
    hs_signature = hmac.new(key.public_pem.encode(), f"{hs_header}.{payload}".encode(), hashlib.sha256)
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'x'})}.{payload}.",
        "alg None": f"{b64({'alg': 'None', 'typ': 'at+jwt', 'kid': 'codegram-test-key'})}.{payload}.",
        "HS256 signed with the public key": f"{hs_header}.{payload}.{b64(hs_signature.digest())}",
        "tampered": f"{header}.{b64({**claims, 'sub': 'admin'})}.{signature}",
        "expired": key.mint("someone", ttl=-120),
        "missing exp": f"{header}.{b64(no_exp)}.{signature}",
        "signed without exp": _mint_without(key, "exp"),
        "not yet valid": key.mint("someone", nbf=int(time.time()) + 600),
        "wrong audience": key.mint("someone", audience="other"),
        "wrong issuer": key.mint("someone", issuer="https://evil.example"),
        "wrong typ": _mint_with_header(key, {"typ": "JWT"}),
        "unknown kid": _mint_with_header(key, {"kid": "no-such-key"}),
        "injected kid": f"{b64({'alg': 'EdDSA', 'typ': 'at+jwt', 'kid': '../../dev/null'})}"
        f".{payload}.{signature}",
        "refresh token as access token": "Yq2m0v8Hc4sQ0s1d3pW6y9oZ0k1xN2c3b4v5n6m7a8s",
        "empty": "-",
        "three dots": "...",
    }


def _mint_with_header(key, header: dict[str, str]) -> str:
    import jwt

    token = key.mint("someone")
    claims = jwt.decode(token, options={"verify_signature": False})
    headers = {"kid": "codegram-test-key", "typ": "at+jwt", **header}
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers=headers)


def _mint_without(key, claim: str) -> str:
    import jwt

    claims = jwt.decode(key.mint("someone"), options={"verify_signature": False})
    claims.pop(claim)
    return jwt.encode(
        claims, key.private_key, algorithm="EdDSA", headers={"kid": "codegram-test-key", "typ": "at+jwt"}
    )


def test_bad_tokens_are_refused_at_the_edge_even_on_public_endpoints(fleet: RunningFleet) -> None:
    url = f"{fleet.gateway_url}/api/v1/users?limit=1"
    assert httpx.get(url).status_code == 200  # anonymous is fine
    for name, token in _forged(fleet).items():
        resp = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
        assert resp.json()["error"]["code"] == "UNAUTHORIZED", name
        # The same token behind an endpoint that needs a user.
        me = httpx.get(f"{fleet.gateway_url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401, name
    assert httpx.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401


def test_tokens_in_the_query_string_are_refused(fleet: RunningFleet) -> None:
    token = fleet.fleet.signing_key.mint("someone")
    for path in ("/api/v1/users", "/api/v1/users/me", "/api/v1/search", "/api/v1/nothing"):
        resp = httpx.get(f"{fleet.gateway_url}{path}", params={"access_token": token, "q": "x"})
        assert resp.status_code == 401, path
        assert resp.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_client_sent_identity_header_changes_nothing(fleet: RunningFleet) -> None:
    import asyncio

    from codegram_kit.grpc.client import create_channel
    from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

    async def make(login: str, github_id: int) -> str:
        async with create_channel(fleet.grpc_target("users")) as channel:
            stub = users_pb2_grpc.UsersServiceStub(channel)
            reply = await stub.UpsertGitHubUser(
                users_pb2.UpsertGitHubUserRequest(github_id=github_id, login=login)
            )
            return reply.user.id

    alice = asyncio.run(make("edge-alice", 771001))
    bob = asyncio.run(make("edge-bob", 771002))
    me = f"{fleet.gateway_url}/api/v1/users/me"
    assert httpx.get(me, headers={"X-User-Id": bob}).status_code == 401
    token = fleet.fleet.signing_key.mint(alice)
    resp = httpx.get(me, headers={"Authorization": f"Bearer {token}", "X-User-Id": bob})
    assert resp.json()["id"] == alice
