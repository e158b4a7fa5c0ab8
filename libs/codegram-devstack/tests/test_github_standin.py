"""The GitHub stand-in answers like GitHub: OAuth with PKCE, REST payloads, Link paging, rate limits."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from codegram_devstack.fleet import STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET
from codegram_devstack.github_standin import create_app

REDIRECT = "http://localhost:3000/auth/callback"


@pytest.fixture
async def gh():
    app = create_app(base_url="http://gh.test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gh.test") as client:
        yield client


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def _code(gh: httpx.AsyncClient, login: str = "octocat", verifier: str | None = "v" * 43) -> str:
    params = {"client_id": STANDIN_CLIENT_ID, "redirect_uri": REDIRECT, "state": "st4te", "login": login}
    if verifier:
        params |= {"code_challenge": _challenge(verifier), "code_challenge_method": "S256"}
    resp = await gh.get("/login/oauth/authorize", params=params)
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


async def _exchange(gh: httpx.AsyncClient, code: str, verifier: str | None = "v" * 43) -> dict:
    body = {"client_id": STANDIN_CLIENT_ID, "client_secret": STANDIN_CLIENT_SECRET, "code": code}
    if verifier:
        body["code_verifier"] = verifier
    resp = await gh.post("/login/oauth/access_token", json=body, headers={"Accept": "application/json"})
    assert resp.status_code == 200
    return resp.json()


async def _token(gh: httpx.AsyncClient, login: str = "octocat") -> str:
    return (await _exchange(gh, await _code(gh, login)))["access_token"]


async def test_sign_in_page_lists_the_demo_accounts(gh: httpx.AsyncClient) -> None:
    resp = await gh.get(
        "/login/oauth/authorize", params={"client_id": STANDIN_CLIENT_ID, "redirect_uri": REDIRECT}
    )
    assert resp.status_code == 200
    for login in ("octocat", "hubot", "monalisa"):
        assert login in resp.text


async def test_code_exchange_gives_a_token_that_reads_the_user(gh: httpx.AsyncClient) -> None:
    grant = await _exchange(gh, await _code(gh))
    assert grant["token_type"] == "bearer" and grant["access_token"].startswith("gho_")
    user = (await gh.get("/user", headers={"Authorization": f"Bearer {grant['access_token']}"})).json()
    assert (user["login"], user["id"], user["type"]) == ("octocat", 583231, "User")


async def test_form_encoded_exchange(gh: httpx.AsyncClient) -> None:
    code = await _code(gh, verifier=None)
    resp = await gh.post(
        "/login/oauth/access_token",
        data={"client_id": STANDIN_CLIENT_ID, "client_secret": STANDIN_CLIENT_SECRET, "code": code},
        headers={"Accept": "application/json"},
    )
    assert resp.json()["access_token"].startswith("gho_")


async def test_a_code_works_once(gh: httpx.AsyncClient) -> None:
    code = await _code(gh)
    assert "access_token" in await _exchange(gh, code)
    assert (await _exchange(gh, code))["error"] == "bad_verification_code"


async def test_pkce_verifier_must_match(gh: httpx.AsyncClient) -> None:
    code = await _code(gh)
    assert (await _exchange(gh, code, verifier="w" * 43))["error"] == "bad_verification_code"


async def test_wrong_client_secret_is_refused(gh: httpx.AsyncClient) -> None:
    code = await _code(gh)
    resp = await gh.post(
        "/login/oauth/access_token",
        json={"client_id": STANDIN_CLIENT_ID, "client_secret": "nope", "code": code},
    )
    assert resp.json()["error"] == "incorrect_client_credentials"


async def test_private_email_only_in_emails(gh: httpx.AsyncClient) -> None:
    token = await _token(gh, "hubot")
    auth = {"Authorization": f"token {token}"}
    assert (await gh.get("/user", headers=auth)).json()["email"] is None
    emails = (await gh.get("/user/emails", headers=auth)).json()
    primary = [e for e in emails if e["primary"]]
    assert primary and primary[0]["verified"] and primary[0]["email"].startswith("hubot@")


async def test_user_endpoints_require_a_token(gh: httpx.AsyncClient) -> None:
    assert (await gh.get("/user")).status_code == 401
    assert (await gh.get("/user/emails", headers={"Authorization": "Bearer made-up"})).status_code == 401


async def test_public_user_and_404(gh: httpx.AsyncClient) -> None:
    assert (await gh.get("/users/MonaLisa")).json()["public_repos"] == 135
    missing = await gh.get("/users/no-such-login")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"


async def test_repos_are_paginated_with_link_headers(gh: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "/users/monalisa/repos?per_page=100"
    pages = 0
    while url:
        resp = await gh.get(url)
        pages += 1
        seen += [r["full_name"] for r in resp.json()]
        links = {
            part.split('rel="')[1].rstrip('"'): part.split(">")[0].lstrip("<")
            for part in resp.headers.get("link", "").split(", ")
            if part
        }
        url = links.get("next")
    assert pages == 2
    assert len(seen) == len(set(seen)) == 135
    first = (await gh.get("/users/monalisa/repos?per_page=2&page=2")).headers["link"]
    assert 'rel="prev"' in first and 'rel="next"' in first and 'rel="last"' in first


async def test_repo_shape_and_languages(gh: httpx.AsyncClient) -> None:
    repo = (await gh.get("/users/octocat/repos")).json()[0]
    for key in (
        "name",
        "full_name",
        "description",
        "language",
        "stargazers_count",
        "forks_count",
        "html_url",
        "pushed_at",
        "private",
        "fork",
    ):
        assert key in repo
    langs = (await gh.get(f"/repos/octocat/{repo['name']}/languages")).json()
    assert langs and all(isinstance(v, int) and v > 0 for v in langs.values())
    assert (await gh.get("/repos/octocat/does-not-exist/languages")).status_code == 404


async def test_contributions_calendar(gh: httpx.AsyncClient) -> None:
    token = await _token(gh)
    query = "query($login: String!, $from: DateTime!, $to: DateTime!) { user(login: $login) { contributionsCollection(from: $from, to: $to) { contributionCalendar { totalContributions weeks { contributionDays { date contributionCount } } } } } }"  # noqa: E501
    body = {
        "query": query,
        "variables": {"login": "octocat", "from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"},
    }
    resp = await gh.post("/graphql", json=body, headers={"Authorization": f"bearer {token}"})
    calendar = resp.json()["data"]["user"]["contributionsCollection"]["contributionCalendar"]
    days = [d for w in calendar["weeks"] for d in w["contributionDays"]]
    assert len(days) == 31 and days[0]["date"] == "2026-01-01"
    assert calendar["totalContributions"] == sum(d["contributionCount"] for d in days)
    again = await gh.post("/graphql", json=body, headers={"Authorization": f"bearer {token}"})
    assert again.json() == resp.json()
    body["variables"]["login"] = "ghost-user"
    unknown = (await gh.post("/graphql", json=body, headers={"Authorization": f"bearer {token}"})).json()
    assert unknown["data"]["user"] is None and unknown["errors"][0]["type"] == "NOT_FOUND"


async def test_rate_limit_headers_and_exhaustion(gh: httpx.AsyncClient) -> None:
    first = await gh.get("/users/octocat")
    second = await gh.get("/users/octocat")
    assert int(second.headers["x-ratelimit-remaining"]) == int(first.headers["x-ratelimit-remaining"]) - 1
    assert first.headers["x-ratelimit-resource"] == "core"
    await gh.post("/_standin/rate-limit", json={"reset_in": 30})
    limited = await gh.get("/users/octocat")
    assert limited.status_code == 403 and limited.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in limited.json()["message"]


async def test_injected_failures_then_recovery(gh: httpx.AsyncClient) -> None:
    await gh.post("/_standin/fail", json={"path_prefix": "/users/", "status": 502, "times": 2})
    assert [(await gh.get("/users/octocat")).status_code for _ in range(3)] == [502, 502, 200]
