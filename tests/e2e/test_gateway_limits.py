"""Rate limits at real gateways sharing a real Redis (API.md "General rules": rate limits).

Each test starts its own gateway processes (and, where it stops it, its own Redis) in front of the
running services. Windows are an hour long so that a test never straddles a window's decay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from codegram_devstack import engines
from codegram_devstack.engines import free_port
from codegram_devstack.fleet import RunningFleet

StartGateway = Callable[..., str]

USERS = "/api/v1/users?limit=1"


@pytest.fixture
def own_redis(tmp_path: Path):
    engine = engines.start_redis(tmp_path / "redis", free_port())
    yield engine
    engine.stop()


def _token(fleet: RunningFleet, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {fleet.fleet.signing_key.mint(user)}"}


def _assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == "RATE_LIMITED"
    assert resp.json()["request_id"] == resp.headers["x-request-id"]
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.headers["x-ratelimit-remaining"] == "0"


def test_anonymous_callers_are_limited_per_address_with_headers(
    start_gateway: StartGateway, own_redis
) -> None:
    gw = start_gateway(REDIS_URL=own_redis.url, RATE_LIMIT_ANONYMOUS="5/hour")
    remaining = []
    for _ in range(5):
        resp = httpx.get(gw + USERS)
        assert resp.status_code == 200
        assert resp.headers["ratelimit-policy"] == "5;w=3600"
        assert resp.headers["x-ratelimit-limit"] == "5"
        assert int(resp.headers["x-ratelimit-reset"]) > time.time()
        remaining.append(int(resp.headers["x-ratelimit-remaining"]))
        assert (
            resp.headers["ratelimit"]
            == f"limit=5, remaining={remaining[-1]}, " + resp.headers["ratelimit"].split(", ")[2]
        )
    assert remaining == [4, 3, 2, 1, 0]
    _assert_limited(httpx.get(gw + USERS))
    # Every API answer carries the headers, the gateway's own 404 included.
    assert httpx.get(gw + "/api/v1/nothing-here").headers["x-ratelimit-limit"] == "5"


def test_authenticated_callers_are_limited_per_user(
    fleet: RunningFleet, start_gateway: StartGateway, own_redis
) -> None:
    gw = start_gateway(
        REDIS_URL=own_redis.url, RATE_LIMIT_AUTHENTICATED="3/hour", RATE_LIMIT_ANONYMOUS="100/hour"
    )
    alice, bob = _token(fleet, "limit-alice"), _token(fleet, "limit-bob")
    for _ in range(3):
        assert httpx.get(gw + USERS, headers=alice).status_code == 200
    _assert_limited(httpx.get(gw + USERS, headers=alice))
    # A fresh token of the same user is the same user.
    _assert_limited(httpx.get(gw + USERS, headers=_token(fleet, "limit-alice")))
    assert httpx.get(gw + USERS, headers=bob).status_code == 200
    assert httpx.get(gw + USERS).status_code == 200  # anonymous callers have their own bucket


def test_the_auth_endpoints_have_their_own_stricter_bucket(start_gateway: StartGateway, own_redis) -> None:
    gw = start_gateway(REDIS_URL=own_redis.url, RATE_LIMIT_AUTH="2/hour", RATE_LIMIT_ANONYMOUS="100/hour")
    authorize = gw + "/api/v1/auth/github/authorize?redirect_uri=http://localhost:3000/auth/callback"
    for _ in range(2):
        resp = httpx.get(authorize)
        assert resp.status_code == 200 and resp.headers["ratelimit-policy"] == "2;w=3600"
    _assert_limited(httpx.get(authorize))
    _assert_limited(httpx.post(gw + "/api/v1/auth/refresh", json={"refresh_token": "x"}))
    assert httpx.get(gw + USERS).status_code == 200


def test_two_gateways_sharing_redis_hold_one_limit_within_a_sync_interval(
    start_gateway: StartGateway, own_redis
) -> None:
    limit, interval = 20, 0.1
    settings = {"REDIS_URL": own_redis.url, "RATE_LIMIT_ANONYMOUS": f"{limit}/hour"}
    gateways = [start_gateway(**settings, RATE_LIMIT_SYNC_INTERVAL_MS="100") for _ in range(2)]
    admitted, sent = 0, 60
    began = time.perf_counter()
    with httpx.Client() as client:
        for i in range(sent):
            admitted += client.get(gateways[i % 2] + USERS).status_code == 200
            time.sleep(0.015)
    rate = sent / (time.perf_counter() - began)
    # Each replica sees the other's admissions at most two intervals late (its own sync plus the
    # other's), so together they may admit what arrives in that time beyond the limit.
    assert limit <= admitted <= limit + math.ceil(2 * interval * rate), (admitted, rate)
    assert admitted < 2 * limit  # without sharing, each would have admitted the whole limit


def test_exact_mode_holds_the_limit_exactly_across_gateways(start_gateway: StartGateway, own_redis) -> None:
    settings = {
        "REDIS_URL": own_redis.url,
        "RATE_LIMIT_ANONYMOUS": "10/hour",
        "RATE_LIMIT_SYNC_INTERVAL_MS": "0",
    }
    gateways = [start_gateway(**settings) for _ in range(2)]
    statuses = [httpx.get(gateways[i % 2] + USERS).status_code for i in range(16)]
    assert statuses.count(200) == 10 and statuses[10:] == [429] * 6


def test_requests_keep_flowing_when_redis_stops_and_counts_survive(
    start_gateway: StartGateway, own_redis
) -> None:
    gw = start_gateway(REDIS_URL=own_redis.url, RATE_LIMIT_ANONYMOUS="8/hour")
    for _ in range(3):
        assert httpx.get(gw + USERS).status_code == 200
    time.sleep(0.3)  # synced: Redis holds 3
    own_redis.kill()
    for _ in range(5):
        resp = httpx.get(gw + USERS)
        assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "8"
    # The limit still holds on this replica's own counts.
    _assert_limited(httpx.get(gw + USERS))
    metrics = httpx.get(gw + "/metrics").text
    assert "codegram_gateway_rate_limit_redis_up 0.0" in metrics
    # Still ready (it serves), and readiness says what is missing.
    ready = httpx.get(gw + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "degraded"}

    restarted = engines.start_redis(Path(own_redis.log_file).parent, own_redis.port)
    try:
        client = redis.Redis.from_url(restarted.url)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            counted = sum(int(client.get(k)) for k in client.scan_iter("rl:ip:*"))
            if counted >= 5:
                break
            time.sleep(0.2)
        # What was admitted during the outage reached Redis once it was back (the restarted Redis
        # lost what it held before, as a Redis without persistence does).
        assert counted == 5
        assert "codegram_gateway_rate_limit_redis_up 1.0" in httpx.get(gw + "/metrics").text
    finally:
        restarted.stop()


def test_forwarded_for_is_believed_only_from_trusted_proxies(start_gateway: StartGateway, own_redis) -> None:
    limits = {"REDIS_URL": own_redis.url, "RATE_LIMIT_ANONYMOUS": "2/hour"}
    behind_proxy = start_gateway(**limits, TRUSTED_PROXIES="127.0.0.0/8")
    for _ in range(2):
        assert httpx.get(behind_proxy + USERS, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 200
    _assert_limited(httpx.get(behind_proxy + USERS, headers={"X-Forwarded-For": "203.0.113.5"}))
    # A client cannot pose as another by writing the left end of the header itself.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}
    _assert_limited(httpx.get(behind_proxy + USERS, headers=spoofed))
    assert httpx.get(behind_proxy + USERS, headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 200

    exposed = start_gateway(REDIS_URL=own_redis.url, RATE_LIMIT_ANONYMOUS="2/hour", RATE_LIMIT_AUTH="2/hour")
    for i in range(2):
        assert httpx.get(exposed + USERS, headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code == 200
    _assert_limited(httpx.get(exposed + USERS, headers={"X-Forwarded-For": "192.0.2.99"}))


def test_a_stopped_service_answers_503_at_once_and_recovers(
    fleet: RunningFleet, start_gateway: StartGateway, tmp_path: Path
) -> None:
    import subprocess

    from codegram_devstack.fleet import wait_ready

    spec = fleet.fleet.service_spec("users")
    http_port, grpc_port = free_port(), free_port()
    env = {**spec.env, "HTTP_PORT": str(http_port), "GRPC_PORT": str(grpc_port)}

    def start_users() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(spec.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert not wait_ready({"users": http_port}, 30)
        return proc

    users = start_users()
    gw = start_gateway(
        USERS_HTTP_URL=f"http://127.0.0.1:{http_port}",
        CIRCUIT_FAILURE_THRESHOLD="2",
        CIRCUIT_OPEN_SECONDS="1",
    )
    try:
        assert httpx.get(gw + USERS).status_code == 200
        users.kill()
        users.wait()
        for _ in range(2):
            assert httpx.get(gw + USERS).status_code == 503
        began = time.perf_counter()
        resp = httpx.get(gw + USERS)
        assert time.perf_counter() - began < 0.1
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(resp.headers["retry-after"]) >= 1
        # The other services keep answering through the same gateway.
        authorize = "/api/v1/auth/github/authorize?redirect_uri=http://localhost:3000/auth/callback"
        assert httpx.get(gw + authorize).status_code == 200

        users = start_users()
        deadline = time.monotonic() + 5
        while httpx.get(gw + USERS).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not recover by itself"
            time.sleep(0.2)
    finally:
        users.kill()
        users.wait()
