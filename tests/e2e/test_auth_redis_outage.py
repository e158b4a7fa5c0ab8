"""Sign-in while Redis is down or hung: a prompt 503 with Retry-After, and sign-in works once it is back.

The test stops a Redis of its own, behind an auth process of its own (a second replica on the shared
database and NATS) and a gateway routing to it, so the shared fleet never loses its Redis.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from codegram_devstack import engines
from codegram_devstack.engines import Engine, free_port
from codegram_devstack.fleet import RunningFleet, wait_ready

REDIRECT = "http://localhost:3000/auth/callback"
# What "prompt" means here: well under the 2 s socket timeout that used to make sign-in hang.
PROMPT_SECONDS = 1.0


@dataclass
class OwnAuth:
    url: str
    redis: Engine
    log: Path


@pytest.fixture
def own_auth(fleet: RunningFleet, tmp_path: Path) -> Iterator[OwnAuth]:
    redis = engines.start_redis(tmp_path / "redis", free_port())
    spec = fleet.fleet.service_spec("auth")
    http_port, grpc_port = free_port(), free_port()
    log = tmp_path / "auth.log"
    env = {**spec.env, "HTTP_PORT": str(http_port), "GRPC_PORT": str(grpc_port), "REDIS_URL": redis.url}
    with log.open("ab") as out:
        proc = subprocess.Popen(spec.command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        exited = lambda _name: None if proc.poll() is None else log.read_text()  # noqa: E731
        assert not wait_ready({"auth": http_port}, 60, exited), log.read_text()
        yield OwnAuth(f"http://127.0.0.1:{http_port}", redis, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        redis.stop()


def _authorize(client: httpx.Client) -> httpx.Response:
    return client.get("/auth/github/authorize", params={"redirect_uri": REDIRECT})


def _github_redirect(authorize_url: str) -> dict[str, str]:
    """What the browser brings back from the stand-in's sign-in page."""
    resp = httpx.get(f"{authorize_url}&{urlencode({'login': 'octocat'})}", follow_redirects=False)
    assert resp.status_code == 302, resp.text
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}


def _assert_unavailable(resp: httpx.Response, elapsed: float, what: str) -> None:
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text}"
    assert resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE", what
    assert resp.json()["request_id"] == resp.headers["x-request-id"], what
    assert int(resp.headers["retry-after"]) >= 1, what
    assert elapsed < PROMPT_SECONDS, f"{what} took {elapsed:.2f} s"


def _sign_in(client: httpx.Client) -> None:
    started = _authorize(client)
    assert started.status_code == 200, started.text
    back = _github_redirect(started.json()["authorize_url"])
    done = client.post("/auth/github/callback", json={"code": back["code"], "state": back["state"]})
    assert done.status_code == 200, done.text
    assert done.json()["user"]["username"] == "octocat"


def test_sign_in_answers_503_promptly_while_redis_is_down_or_hung(
    own_auth: OwnAuth, start_gateway: Callable[..., str]
) -> None:
    gateway = start_gateway(AUTH_HTTP_URL=own_auth.url)
    with httpx.Client(base_url=gateway + "/api/v1", timeout=15) as client:
        _sign_in(client)
        # A sign-in under way when Redis goes: its callback cannot find the state.
        pending = _authorize(client)
        assert pending.status_code == 200, pending.text
        back = _github_redirect(pending.json()["authorize_url"])

        own_auth.redis.kill()
        start = time.perf_counter()
        resp = _authorize(client)
        _assert_unavailable(resp, time.perf_counter() - start, "authorize, Redis down")
        start = time.perf_counter()
        resp = client.post("/auth/github/callback", json={"code": back["code"], "state": back["state"]})
        _assert_unavailable(resp, time.perf_counter() - start, "callback, Redis down")

        # Hung rather than gone: the connection is accepted and nothing ever answers.
        hung = engines.start_redis(Path(own_auth.redis.log_file or "").parent, own_auth.redis.port)
        own_auth.redis = hung
        _sign_in(client)  # back: sign-in works again
        hung.process.send_signal(signal.SIGSTOP)
        try:
            for _ in range(2):  # a connection that timed out is not reused half-read
                start = time.perf_counter()
                resp = _authorize(client)
                _assert_unavailable(resp, time.perf_counter() - start, "authorize, Redis hung")
        finally:
            hung.process.send_signal(signal.SIGCONT)

        _sign_in(client)
    log = own_auth.log.read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
