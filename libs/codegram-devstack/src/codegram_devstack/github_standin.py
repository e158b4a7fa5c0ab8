"""A local stand-in for the GitHub endpoints CodeGram uses: OAuth, REST and the contributions GraphQL."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from codegram_devstack.fleet import STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET
from codegram_devstack.github_demo_data import (
    BY_LOGIN,
    DemoAccount,
    contributions,
    languages,
    made_account,
    repos,
    user_json,
)

log = logging.getLogger("codegram.github-standin")

DOCS_URL = "https://docs.github.com/rest"
CODE_TTL_SECONDS = 600
RATE_WINDOW_SECONDS = 3600
MAX_LOG = 200_000


@dataclass
class _Grant:
    login: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    expires_at: float


@dataclass
class _Failure:
    path_prefix: str
    status: int
    times: int
    login: str | None = None


@dataclass
class _Window:
    """A rate-limit window: every call of `login`'s token (everyone's when None) is a 403 with
    X-RateLimit-Remaining: 0 until `until`; it starts now, or at the first call to `path_prefix`."""

    login: str | None
    path_prefix: str
    duration: float
    until: float | None


@dataclass
class _Secondary:
    login: str | None
    path_prefix: str
    retry_after: int | None
    times: int


@dataclass
class _Delay:
    login: str | None
    path_prefix: str
    seconds: float


@dataclass
class StandinState:
    """Everything the stand-in remembers; tests reset it through /_standin/reset."""

    rate_limit: int
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    accounts: dict[str, DemoAccount] = field(default_factory=lambda: dict(BY_LOGIN))
    used: dict[str, int] = field(default_factory=dict)  # who -> calls in this window
    window_reset: float = 0.0
    windows: list[_Window] = field(default_factory=list)
    secondary: list[_Secondary] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    delays: list[_Delay] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)  # path -> count, for tests
    log: list[dict[str, Any]] = field(default_factory=list)  # every API call, for tests
    in_flight: dict[str, int] = field(default_factory=dict)  # login -> calls being answered now
    most_in_flight: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.codes.clear()
        self.tokens.clear()
        self.accounts = dict(BY_LOGIN)
        self.used.clear()
        self.window_reset = 0.0
        self.windows.clear()
        self.secondary.clear()
        self.failures.clear()
        self.delays.clear()
        self.calls.clear()
        self.log.clear()
        self.in_flight.clear()
        self.most_in_flight.clear()

    def account(self, login: str) -> DemoAccount | None:
        return self.accounts.get(login.lower())


def _applies(scope_login: str | None, prefix: str, login: str | None, path: str) -> bool:
    return (scope_login is None or (login or "").lower() == scope_login.lower()) and path.startswith(prefix)


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_found() -> JSONResponse:
    return JSONResponse({"message": "Not Found", "documentation_url": DOCS_URL, "status": "404"}, 404)


def _pkce_ok(challenge: str | None, verifier: str | None) -> bool:
    if challenge is None:
        return True
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return secrets.compare_digest(base64.urlsafe_b64encode(digest).decode().rstrip("="), challenge)


def create_app(
    *,
    base_url: str | None = None,
    rate_limit: int = 5000,
    client_id: str = STANDIN_CLIENT_ID,
    client_secret: str = STANDIN_CLIENT_SECRET,
) -> FastAPI:
    app = FastAPI(title="GitHub stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    state = StandinState(rate_limit=rate_limit)
    app.state.standin = state

    def base(request: Request) -> str:
        return (base_url or str(request.base_url)).rstrip("/")

    def who(request: Request) -> tuple[str, str | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "token") and token in state.tokens:
            return f"token:{token}", state.tokens[token]
        return f"ip:{request.client.host if request.client else '?'}", None

    def limited(headers: dict[str, str], until: float, key: str) -> JSONResponse:
        headers.update(
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(until)),
                "X-RateLimit-Used": headers["X-RateLimit-Limit"],
            }
        )
        body = {
            "message": f"API rate limit exceeded for {key.split(':', 1)[0]}.",
            "documentation_url": DOCS_URL,
        }
        return JSONResponse(body, 403, headers=headers)

    @app.middleware("http")
    async def github_behaviour(request: Request, call_next: Any) -> Response:
        path = request.url.path
        state.calls[path] = state.calls.get(path, 0) + 1
        if path.startswith(("/_standin", "/login/")) or path in ("/healthz", "/readyz"):
            return await call_next(request)
        key, login = who(request)
        entry: dict[str, Any] = {"t": time.time(), "method": request.method, "path": path, "login": login}
        entry["conditional"] = "if-none-match" in request.headers
        state.log.append(entry)
        if len(state.log) > MAX_LOG:  # a long `make up` session keeps only the recent calls
            del state.log[: MAX_LOG // 2]
        scope = login or ""
        state.in_flight[scope] = state.in_flight.get(scope, 0) + 1
        state.most_in_flight[scope] = max(state.most_in_flight.get(scope, 0), state.in_flight[scope])
        try:
            response = await answer(request, call_next, path, key, login, entry)
        finally:
            state.in_flight[scope] -= 1
        entry["status"] = response.status_code
        return response

    async def answer(
        request: Request, call_next: Any, path: str, key: str, login: str | None, entry: dict[str, Any]
    ) -> Response:
        entry["counted"] = False
        delay = max(
            (d.seconds for d in state.delays if _applies(d.login, d.path_prefix, login, path)), default=0.0
        )
        if delay:
            await asyncio.sleep(delay)
        for failure in state.failures:
            if failure.times > 0 and _applies(failure.login, failure.path_prefix, login, path):
                failure.times -= 1
                return JSONResponse({"message": "Server Error"}, failure.status)
        now = time.time()
        if now >= state.window_reset:
            state.window_reset = now + RATE_WINDOW_SECONDS
            state.used.clear()
        limit = state.rate_limit if login else min(60, state.rate_limit)
        used = state.used.get(key, 0)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": str(int(state.window_reset)),
            "X-RateLimit-Resource": "graphql" if path == "/graphql" else "core",
        }
        for window in state.windows:
            if window.until is None and _applies(window.login, window.path_prefix, login, path):
                # GitHub's reset is a whole second: the window ends exactly then.
                window.until = float(math.ceil(now + window.duration))
            if window.until is not None and now < window.until and _applies(window.login, "", login, path):
                return limited(headers, window.until, key)
        for secondary in state.secondary:
            if secondary.times > 0 and _applies(secondary.login, secondary.path_prefix, login, path):
                secondary.times -= 1
                extra = (
                    {"Retry-After": str(secondary.retry_after)} if secondary.retry_after is not None else {}
                )
                refusal = {
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again.",
                    "documentation_url": DOCS_URL,
                }
                return JSONResponse(refusal, 403, headers=extra)
        if used >= limit:
            return limited(headers, state.window_reset, key)
        response: Response = await call_next(request)
        if request.method == "GET" and response.status_code == 200:
            body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
            etag = _etag(body)
            candidates = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
            passthrough = {k: v for k, v in response.headers.items() if k.lower() in ("link", "content-type")}
            if etag in candidates:
                # GitHub: a 304 to an authorised conditional request costs no quota.
                response = Response(status_code=304, headers={"ETag": etag, **passthrough})
                remaining = limit - used
                response.headers.update(
                    {**headers, "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Used": str(used)}
                )
                return response
            response = Response(body, status_code=200, headers={"ETag": etag, **passthrough})
        state.used[key] = used + 1
        entry["counted"] = True
        response.headers.update(
            {**headers, "X-RateLimit-Remaining": str(limit - used - 1), "X-RateLimit-Used": str(used + 1)}
        )
        return response

    # -- OAuth web flow -----------------------------------------------------------------------
    @app.get("/login/oauth/authorize", response_model=None)
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        if params.get("client_id") != client_id or not params.get("redirect_uri"):
            return HTMLResponse("<h1>Unknown application or missing redirect_uri</h1>", 400)
        if params.get("login"):
            return _grant(params)
        buttons = "".join(
            f'<li><a href="/login/oauth/authorize?{html.escape(urlencode({**params, "login": a.login}))}">'
            f"<strong>{html.escape(a.login)}</strong> ({html.escape(a.name)})</a></li>"
            for a in BY_LOGIN.values()
        )
        page = (
            "<!doctype html><title>Sign in to GitHub (local stand-in)</title>"
            "<h1>Sign in with a demo GitHub account</h1>"
            f"<p>Application <code>{html.escape(client_id)}</code> asks to read your profile.</p>"
            f"<ul>{buttons}</ul>"
        )
        return HTMLResponse(page)

    def _grant(params: dict[str, str]) -> Response:
        account = state.account(params["login"])
        if account is None:
            return HTMLResponse("<h1>No such demo account</h1>", 404)
        code = secrets.token_hex(10)
        state.codes[code] = _Grant(
            login=account.login,
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params.get("code_challenge"),
            expires_at=time.time() + CODE_TTL_SECONDS,
        )
        query = {"code": code, **({"state": params["state"]} if "state" in params else {})}
        separator = "&" if "?" in params["redirect_uri"] else "?"
        return RedirectResponse(f"{params['redirect_uri']}{separator}{urlencode(query)}", 302)

    @app.post("/login/oauth/access_token")
    async def access_token(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        else:
            # Form-encoded, as OAuth clients usually send it (parsed here: no multipart dependency).
            body = dict(parse_qsl((await request.body()).decode()))
        bad = {
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": f"{DOCS_URL}/apps/oauth-apps#bad-verification-code",
        }
        if body.get("client_id") != client_id or body.get("client_secret") != client_secret:
            return JSONResponse(
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or " "client_secret passed are incorrect.",
                }
            )
        grant = state.codes.pop(str(body.get("code", "")), None)  # single use, whatever happens next
        if (
            grant is None
            or grant.expires_at < time.time()
            or grant.client_id != body.get("client_id")
            or (body.get("redirect_uri") and body["redirect_uri"] != grant.redirect_uri)
            or not _pkce_ok(grant.code_challenge, body.get("code_verifier"))
        ):
            return JSONResponse(bad)
        token = "gho_" + secrets.token_urlsafe(27)
        state.tokens[token] = grant.login
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

    # -- REST ----------------------------------------------------------------------------------
    def _authenticated(request: Request) -> DemoAccount | None:
        _, login = who(request)
        return state.account(login) if login else None

    def _requires_auth() -> JSONResponse:
        return JSONResponse({"message": "Requires authentication", "documentation_url": DOCS_URL}, 401)

    @app.get("/user")
    async def current_user(request: Request) -> JSONResponse:
        account = _authenticated(request)
        return JSONResponse(user_json(account, base(request))) if account else _requires_auth()

    @app.get("/user/emails")
    async def current_user_emails(request: Request) -> JSONResponse:
        account = _authenticated(request)
        if account is None:
            return _requires_auth()
        emails = [
            {"email": account.primary_email, "primary": True, "verified": True, "visibility": "private"},
            {
                "email": f"{account.id}+{account.login}@users.noreply.example.com",
                "primary": False,
                "verified": True,
                "visibility": None,
            },
        ]
        return JSONResponse(emails)

    @app.get("/users/{login}")
    async def get_user(login: str, request: Request) -> JSONResponse:
        account = state.account(login)
        return JSONResponse(user_json(account, base(request))) if account else _not_found()

    @app.get("/users/{login}/repos")
    async def list_repos(login: str, request: Request) -> JSONResponse:
        account = state.account(login)
        if account is None:
            return _not_found()
        try:
            per_page = max(1, min(100, int(request.query_params.get("per_page", 30))))
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            return JSONResponse({"message": "Invalid request.", "documentation_url": DOCS_URL}, 422)
        items = repos(account, base(request))
        sort = request.query_params.get("sort", "full_name")
        key = {"pushed": "pushed_at", "updated": "updated_at", "created": "created_at"}.get(sort)
        items = (
            sorted(items, key=lambda r: r[key], reverse=True)
            if key
            else sorted(items, key=lambda r: r["full_name"])
        )
        last = max(1, -(-len(items) // per_page))
        response = JSONResponse(items[(page - 1) * per_page : page * per_page])
        link = _link_header(
            f"{base(request)}/users/{account.login}/repos", dict(request.query_params), page, last
        )
        if link:
            response.headers["Link"] = link
        return response

    @app.get("/repos/{owner}/{repo}/languages")
    async def repo_languages(owner: str, repo: str) -> JSONResponse:
        account = state.account(owner)
        found = languages(account, repo) if account else {}
        return JSONResponse(found) if account and (found or _has_repo(account, repo)) else _not_found()

    # -- GraphQL (contributions only) -------------------------------------------------------------
    @app.post("/graphql")
    async def graphql(request: Request) -> JSONResponse:
        if _authenticated(request) is None:
            return JSONResponse({"message": "This endpoint requires you to be authenticated."}, 401)
        body = await request.json()
        query, variables = body.get("query", ""), body.get("variables") or {}
        if "contributionsCollection" not in query:
            return JSONResponse(
                {"errors": [{"message": "The stand-in answers contributionsCollection only"}]}
            )
        account = state.account(str(variables.get("login", "")))
        if account is None:
            return JSONResponse(
                {
                    "data": {"user": None},
                    "errors": [
                        {
                            "type": "NOT_FOUND",
                            "path": ["user"],
                            "message": "Could not resolve to a User with the login of "
                            f"'{variables.get('login')}'.",
                        }
                    ],
                }
            )
        try:
            start = datetime.fromisoformat(str(variables["from"]).replace("Z", "+00:00")).date()
            end = datetime.fromisoformat(str(variables["to"]).replace("Z", "+00:00")).date()
        except (KeyError, ValueError):
            return JSONResponse({"errors": [{"message": "from and to must be DateTime values"}]})
        days = contributions(account, start, end)
        weeks = _weeks(days)
        calendar = {"totalContributions": sum(c for _, c in days), "weeks": weeks}
        return JSONResponse(
            {"data": {"user": {"contributionsCollection": {"contributionCalendar": calendar}}}}
        )

    # -- operations and test controls --------------------------------------------------------------
    @app.get("/healthz")
    @app.get("/readyz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/_standin/reset")
    async def reset() -> Response:
        state.reset()
        return Response(status_code=204)

    @app.post("/_standin/rate-limit")
    async def exhaust(request: Request) -> Response:
        """Answer API calls with GitHub's rate-limit 403 (X-RateLimit-Remaining: 0) for `reset_in`
        seconds: every caller's, or only `login`'s; from now, or (`start: "first_call"`) from the
        first call to `path_prefix`."""
        body = await request.json()
        duration = float(body.get("reset_in", 60))
        starts_now = body.get("start", "now") == "now"
        until = float(math.ceil(time.time() + duration)) if starts_now else None
        state.windows.append(_Window(body.get("login"), str(body.get("path_prefix", "")), duration, until))
        return Response(status_code=204)

    @app.post("/_standin/secondary-limit")
    async def secondary_limit(request: Request) -> Response:
        """The next `times` matching calls get a secondary-limit 403 with `Retry-After` (none when null)."""
        body = await request.json()
        retry_after = body.get("retry_after", 60)
        state.secondary.append(
            _Secondary(
                body.get("login"),
                str(body.get("path_prefix", "")),
                None if retry_after is None else int(retry_after),
                int(body.get("times", 1)),
            )
        )
        return Response(status_code=204)

    @app.post("/_standin/fail")
    async def fail(request: Request) -> Response:
        """The next `times` calls to `path_prefix` (of `login`'s token only, when given) answer `status`."""
        body = await request.json()
        state.failures.append(
            _Failure(
                body["path_prefix"],
                int(body.get("status", 502)),
                int(body.get("times", 1)),
                body.get("login"),
            )
        )
        return Response(status_code=204)

    @app.post("/_standin/delay")
    async def delay(request: Request) -> Response:
        """Answer calls `seconds` late: every call, or those of `login` and/or under `path_prefix`
        (a new delay for the same scope replaces the old one; 0 removes it)."""
        body = await request.json()
        scope_login, prefix = body.get("login"), str(body.get("path_prefix", ""))
        state.delays = [d for d in state.delays if (d.login, d.path_prefix) != (scope_login, prefix)]
        seconds = float(body.get("seconds", 0))
        if seconds > 0:
            state.delays.append(_Delay(scope_login, prefix, seconds))
        return Response(status_code=204)

    @app.post("/_standin/accounts", status_code=201)
    async def add_account(request: Request) -> JSONResponse:
        """A demo account made (or remade, with new numbers) for one test or benchmark."""
        body = await request.json()
        login = str(body["login"])
        numbers = {
            k: body[k] for k in ("id", "name", "followers", "following", "repo_count", "topics") if k in body
        }
        account = made_account(login, **numbers)
        state.accounts[login.lower()] = account
        return JSONResponse({"id": account.id, "login": account.login}, 201)

    @app.get("/_standin/calls")
    async def calls() -> JSONResponse:
        return JSONResponse(state.calls)

    @app.get("/_standin/log")
    async def call_log(login: str | None = None, since: float = 0.0) -> JSONResponse:
        """Every API call (time, method, path, token's login, status, whether it cost quota,
        whether it was conditional), optionally only `login`'s and after `since`."""
        entries = [
            e
            for e in state.log
            if e["t"] >= since and (login is None or (e["login"] or "").lower() == login.lower())
        ]
        most = state.most_in_flight.get(login, 0) if login else max(state.most_in_flight.values(), default=0)
        return JSONResponse({"calls": entries, "most_in_flight": most})

    return app


def _has_repo(account: DemoAccount, name: str) -> bool:
    return any(r["name"] == name for r in repos(account, ""))


def _link_header(url: str, query: dict[str, str], page: int, last: int) -> str | None:
    def ref(p: int, rel: str) -> str:
        return f'<{url}?{urlencode({**query, "page": p})}>; rel="{rel}"'

    links = []
    if page > 1:
        links += [ref(page - 1, "prev"), ref(1, "first")]
    if page < last:
        links += [ref(page + 1, "next"), ref(last, "last")]
    return ", ".join(links) or None


def _weeks(days: list[tuple[date, int]]) -> list[dict]:
    weeks: list[dict] = []
    for day, count in days:
        # GitHub's calendar weeks start on Sunday.
        if not weeks or day.weekday() == 6:
            weeks.append({"contributionDays": []})
        weeks[-1]["contributionDays"].append({"date": day.isoformat(), "contributionCount": count})
    return weeks


def main() -> None:
    parser = argparse.ArgumentParser(prog="github-standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(base_url=args.base_url), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
