"""The GitHub client honours conditional requests, the primary and secondary rate limits, and pagination."""

from __future__ import annotations

import time

import httpx
import pytest

from codegram_github.github_client import (
    Cached,
    GitHubClient,
    GitHubRefused,
    GitHubUnavailable,
    RateLimited,
    next_page,
)


class Store:
    def __init__(self) -> None:
        self.items: dict[str, Cached] = {}

    async def get(self, url: str) -> Cached | None:
        return self.items.get(url)

    async def put(self, url: str, cached: Cached) -> None:
        self.items[url] = cached


def client(handler: httpx.MockTransport) -> GitHubClient:
    return GitHubClient("https://gh.test", httpx.AsyncClient(transport=handler), secondary_wait_seconds=60)


async def test_an_unchanged_answer_is_a_304_with_the_stored_body() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, json={"login": "mona"}, headers={"ETag": '"v1"'})

    gh, store = client(httpx.MockTransport(answer)), Store()
    first = await gh.get("tok", "/user", store)
    second = await gh.get("tok", "/user", store)
    assert seen == [None, '"v1"']
    assert not first.not_modified and second.not_modified and second.body == {"login": "mona"}


async def test_the_primary_limit_holds_every_request_until_the_reset() -> None:
    calls = 0
    reset = int(time.time()) + 30

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return httpx.Response(403, json={"message": "API rate limit exceeded"}, headers=headers)

    gh = client(httpx.MockTransport(answer))
    with pytest.raises(RateLimited) as limited:
        await gh.get("tok", "/user", Store())
    assert limited.value.until == reset
    with pytest.raises(RateLimited):
        await gh.get("tok", "/users/mona/repos", Store())
    assert calls == 1  # the second request was never sent


async def test_a_secondary_limit_waits_for_retry_after_or_a_minute() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(403, json={"message": "secondary"}, headers={"Retry-After": "7"})
        return httpx.Response(429, json={"message": "You have exceeded a secondary rate limit"})

    before = time.time()
    with pytest.raises(RateLimited) as retry_after:
        await client(httpx.MockTransport(answer)).get("tok", "/a", Store())
    assert 6 <= retry_after.value.until - before <= 8
    with pytest.raises(RateLimited) as no_header:
        await client(httpx.MockTransport(answer)).get("tok", "/b", Store())
    assert no_header.value.until - before >= 59


async def test_5xx_is_retryable_and_a_plain_403_is_not() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(502) if request.url.path == "/a" else httpx.Response(403, json={"message": "no"})
        )

    gh = client(httpx.MockTransport(answer))
    with pytest.raises(GitHubUnavailable):
        await gh.get("tok", "/a", Store())
    with pytest.raises(GitHubRefused):
        await gh.get("tok", "/b", Store())


async def test_pages_follow_the_link_header() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        link = (
            '<https://gh.test/r?page=2>; rel="next", <https://gh.test/r?page=2>; rel="last"'
            if page == 1
            else None
        )
        return httpx.Response(200, json=[page], headers={"Link": link} if link else {})

    items, unchanged = await client(httpx.MockTransport(answer)).get_all_pages("tok", "/r", Store())
    assert items == [1, 2] and not unchanged
    assert (
        next_page('<https://x/?page=3>; rel="prev", <https://x/?page=5>; rel="next"') == "https://x/?page=5"
    )


async def test_a_timeout_is_retryable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(GitHubUnavailable, match="timed out"):
        await client(httpx.MockTransport(answer)).get("tok", "/user", Store())
