"""A GitHub REST and GraphQL client that respects GitHub's limits: conditional requests with stored
ETags, the primary rate limit (wait for X-RateLimit-Reset), secondary limits (Retry-After),
`Link` pagination, timeouts and a bound on concurrent requests per token.

Tokens never reach a log line: limits are kept under a digest of the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

log = logging.getLogger("codegram.github.client")

GITHUB_REQUESTS = Counter(
    "codegram_github_requests_total",
    "Requests sent to GitHub by outcome (200, 304, rate_limited, secondary_limited, 4xx, 5xx, timeout)",
    ["outcome"],
)
GITHUB_QUOTA_REMAINING = Gauge(
    "codegram_github_rate_limit_remaining",
    "GitHub's X-RateLimit-Remaining on the last answer, by resource (core, graphql)",
    ["resource"],
)
for _outcome in ("200", "304", "rate_limited", "secondary_limited", "4xx", "5xx", "timeout"):
    GITHUB_REQUESTS.labels(_outcome)

API_VERSION = "2022-11-28"


class RateLimited(Exception):
    """GitHub said "not before `until`" (epoch seconds): a wait, not a failure."""

    def __init__(self, until: float, reason: str) -> None:
        self.until = until
        self.reason = reason
        super().__init__(reason)


class GitHubUnavailable(Exception):
    """A 5xx, a timeout or a connection failure: worth another attempt later."""


class GitHubRefused(Exception):
    """A 4xx that waiting will not fix (a revoked token, a user GitHub does not know)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"GitHub answered {status}: {message}")


@dataclass(frozen=True, slots=True)
class Cached:
    etag: str
    body: Any
    link: str | None


class EtagStore(Protocol):
    """Where a user's conditional-request state lives (the github schema's etags table)."""

    async def get(self, url: str) -> Cached | None: ...

    async def put(self, url: str, cached: Cached) -> None: ...


@dataclass(frozen=True, slots=True)
class Fetched:
    body: Any
    link: str | None
    not_modified: bool  # answered 304: the stored body, at no quota


@dataclass
class _TokenState:
    semaphore: asyncio.Semaphore
    remaining: int | None = None
    reset: float = 0.0
    blocked_until: float = 0.0  # a secondary limit's Retry-After


def next_page(link: str | None) -> str | None:
    """The `rel="next"` URL of a `Link` header (split, not a regex: linear on any header)."""
    for part in (link or "").split(","):
        target, _, params = part.partition(">")
        rels = {p.strip().removeprefix("rel=").strip('"') for p in params.split(";") if "rel=" in p}
        if "next" in rels and target.strip().startswith("<"):
            return target.strip()[1:]
    return None


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:24]


@dataclass
class GitHubClient:
    base_url: str
    http: httpx.AsyncClient
    concurrency_per_token: int = 8
    secondary_wait_seconds: float = 60.0
    redis: Redis | None = None
    _tokens: dict[str, _TokenState] = field(default_factory=dict)

    def _state(self, key: str) -> _TokenState:
        state = self._tokens.get(key)
        if state is None:
            state = self._tokens[key] = _TokenState(asyncio.Semaphore(self.concurrency_per_token))
        return state

    def _url(self, path_or_url: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    async def _blocked_until(self, key: str, state: _TokenState) -> float:
        """When this token may send again (0: now), as this process and, via Redis, the others know."""
        until = state.blocked_until
        if state.remaining == 0:
            until = max(until, state.reset)
        if self.redis is not None:
            with contextlib.suppress(Exception):  # Redis away: this process's own knowledge
                shared = await self.redis.get(f"github:blocked:{key}")
                if shared:
                    until = max(until, float(shared))
        return until if until > time.time() else 0.0

    async def _block(self, key: str, until: float) -> None:
        if self.redis is not None:
            ttl_ms = int((until - time.time()) * 1000)
            if ttl_ms > 0:
                with contextlib.suppress(Exception):
                    await self.redis.set(f"github:blocked:{key}", str(until), px=ttl_ms)

    def _limited(self, response: httpx.Response, state: _TokenState, now: float) -> RateLimited | None:
        """GitHub's rate-limit answers (REST best practices), or None for any other answer."""
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        if headers.get("retry-after"):
            with contextlib.suppress(ValueError):
                state.blocked_until = now + max(0.0, float(headers["retry-after"]))
                GITHUB_REQUESTS.labels("secondary_limited").inc()
                return RateLimited(state.blocked_until, "GitHub secondary rate limit (Retry-After)")
        if headers.get("x-ratelimit-remaining") == "0":
            with contextlib.suppress(ValueError):
                reset = float(headers.get("x-ratelimit-reset", "0"))
                state.remaining, state.reset = 0, max(reset, now)
                GITHUB_REQUESTS.labels("rate_limited").inc()
                return RateLimited(state.reset, "GitHub rate limit exhausted until X-RateLimit-Reset")
        message = ""
        with contextlib.suppress(Exception):
            message = str(response.json().get("message", ""))
        if response.status_code == 429 or "rate limit" in message.lower():
            state.blocked_until = now + self.secondary_wait_seconds
            GITHUB_REQUESTS.labels("secondary_limited").inc()
            return RateLimited(state.blocked_until, "GitHub secondary rate limit")
        return None

    async def _send(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        key = token_key(token)
        state = self._state(key)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            **kwargs.pop("headers", {}),
        }
        async with state.semaphore:
            # Checked once a slot is free: a limit another request hit meanwhile holds this one too.
            until = await self._blocked_until(key, state)
            if until:
                raise RateLimited(until, "GitHub rate limit: waiting for the reset")
            try:
                response = await self.http.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException as exc:
                GITHUB_REQUESTS.labels("timeout").inc()
                raise GitHubUnavailable(f"GitHub timed out ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                GITHUB_REQUESTS.labels("5xx").inc()
                raise GitHubUnavailable(f"GitHub unreachable ({type(exc).__name__})") from None
        now = time.time()
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            state.remaining = int(remaining)
            with contextlib.suppress(ValueError):
                state.reset = float(response.headers.get("x-ratelimit-reset", "0"))
            GITHUB_QUOTA_REMAINING.labels(response.headers.get("x-ratelimit-resource", "core")).set(
                state.remaining
            )
        limited = self._limited(response, state, now)
        if limited is not None:
            await self._block(key, limited.until)
            raise limited
        if response.status_code >= 500:
            GITHUB_REQUESTS.labels("5xx").inc()
            raise GitHubUnavailable(f"GitHub answered {response.status_code}")
        if response.status_code >= 400:
            GITHUB_REQUESTS.labels("4xx").inc()
            message = ""
            with contextlib.suppress(Exception):
                message = str(response.json().get("message", ""))
            raise GitHubRefused(response.status_code, message or response.reason_phrase)
        GITHUB_REQUESTS.labels("304" if response.status_code == 304 else "200").inc()
        return response

    async def get(self, token: str, path_or_url: str, store: EtagStore) -> Fetched:
        """GET with `If-None-Match` from the store; a 304 gives the stored body, at no quota."""
        url = self._url(path_or_url)
        cached = await store.get(url)
        headers = {"If-None-Match": cached.etag} if cached else {}
        response = await self._send("GET", url, token, headers=headers)
        if response.status_code == 304 and cached is not None:
            return Fetched(cached.body, cached.link, not_modified=True)
        try:
            body = response.json()
        except ValueError:
            raise GitHubUnavailable("GitHub answered a body that is not JSON") from None
        link = response.headers.get("link")
        etag = response.headers.get("etag")
        if etag:
            await store.put(url, Cached(etag, body, link))
        return Fetched(body, link, not_modified=False)

    async def get_all_pages(self, token: str, path: str, store: EtagStore) -> tuple[list[Any], bool]:
        """Every page of a list, following `Link: rel="next"`; (items, whether all were 304s)."""
        items: list[Any] = []
        unchanged = True
        url: str | None = path
        while url is not None:
            page = await self.get(token, url, store)
            if not isinstance(page.body, list):
                raise GitHubUnavailable("GitHub answered a list endpoint with something else")
            items.extend(page.body)
            unchanged = unchanged and page.not_modified
            url = next_page(page.link)
        return items, unchanged

    async def graphql(self, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self._send(
            "POST", self._url("/graphql"), token, json={"query": query, "variables": variables}
        )
        try:
            body = response.json()
        except ValueError:
            raise GitHubUnavailable("GitHub answered a body that is not JSON") from None
        errors = body.get("errors") or []
        if errors:
            kinds = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
            if "NOT_FOUND" in kinds:
                raise GitHubRefused(404, "GitHub does not know this user")
            if "RATE_LIMITED" in kinds:
                until = time.time() + self.secondary_wait_seconds
                raise RateLimited(until, "GitHub GraphQL rate limit")
            raise GitHubUnavailable("GitHub GraphQL answered errors")
        data = body.get("data")
        if not isinstance(data, dict):
            raise GitHubUnavailable("GitHub GraphQL answered no data")
        return data
