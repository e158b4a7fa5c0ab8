"""The contribution calendar through the gateway: GitHub's contributionsCollection, chunked by year,
cached in Redis and fetched once however many ask at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from codegram_devstack.e2e import assert_error, member
from codegram_devstack.fleet import RunningFleet
from codegram_devstack.github_demo_data import contributions, made_account
from tests.e2e.github_helpers import calls, new_account, sign_in


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def graphql_calls(fleet: RunningFleet, login: str) -> int:
    return len([c for c in calls(fleet, login) if c["path"] == "/graphql"])


async def test_a_hundred_concurrent_requests_make_one_github_call_and_repeats_none(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    login = new_account(fleet)
    _, user = await asyncio.to_thread(sign_in, gateway, login)
    before = graphql_calls(fleet, login)
    url = f"{fleet.gateway_url}/api/v1/users/{user['username']}/contributions"
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(100)))
    assert {a.status_code for a in answers} == {200}, {a.text for a in answers if a.status_code != 200}
    assert len({a.content for a in answers}) == 1
    assert graphql_calls(fleet, login) - before == 1

    body = answers[0].json()
    today = datetime.now(UTC).date()
    expected = contributions(made_account(login), today - timedelta(days=364), today)
    assert [d["date"] for d in body["days"]] == [d.isoformat() for d, _ in expected]
    assert [d["count"] for d in body["days"]] == [c for _, c in expected]
    assert body["total"] == sum(c for _, c in expected)

    again = await asyncio.to_thread(gateway.get, f"/users/{user['username']}/contributions")
    assert again.status_code == 200 and again.json() == body
    assert graphql_calls(fleet, login) - before == 1  # cached


def test_a_range_over_a_year_is_asked_for_in_yearly_chunks(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    login = new_account(fleet)
    _, user = sign_in(gateway, login)
    before = graphql_calls(fleet, login)
    resp = gateway.get(
        f"/users/{user['username']}/contributions", params={"from": "2023-01-01", "to": "2025-03-31"}
    )
    assert resp.status_code == 200, resp.text
    days = resp.json()["days"]
    expected = contributions(made_account(login), date(2023, 1, 1), date(2025, 3, 31))
    assert len(days) == len(expected) == 821
    assert resp.json()["total"] == sum(c for _, c in expected)
    assert graphql_calls(fleet, login) - before == 3  # 365 + 365 + 91 days


def test_bad_ranges_are_400(fleet: RunningFleet, gateway: httpx.Client) -> None:
    _, user = sign_in(gateway, new_account(fleet))
    path = f"/users/{user['username']}/contributions"
    assert gateway.get(path, params={"from": "2024-01-01", "to": "2024-02-01"}).status_code == 200
    assert_error(
        gateway.get(path, params={"from": "2024-02-02", "to": "2024-02-01"}), 400, "VALIDATION_ERROR"
    )
    assert_error(
        gateway.get(path, params={"from": "2019-01-01", "to": "2024-06-01"}), 400, "VALIDATION_ERROR"
    )
    assert_error(gateway.get(path, params={"from": "yesterday"}), 400, "VALIDATION_ERROR")


async def test_someone_who_never_signed_in_is_404(fleet: RunningFleet, gateway: httpx.Client) -> None:
    _, signed = await asyncio.to_thread(sign_in, gateway, new_account(fleet))
    ok = await asyncio.to_thread(gateway.get, f"/users/{signed['username']}/contributions")
    assert ok.status_code == 200
    never = await member(fleet, "nosignin")  # in the users service, but never signed in with GitHub
    resp = await asyncio.to_thread(gateway.get, f"/users/{never.username}/contributions")
    assert_error(resp, 404, "NOT_FOUND")
    assert_error(
        await asyncio.to_thread(gateway.get, "/users/no-such-user-xyz/contributions"), 404, "NOT_FOUND"
    )
