"""A user's `stats.docs` follows the docs service's events: public docs only, in any order."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from codegram_devstack.e2e import Member, member
from codegram_devstack.fleet import RunningFleet


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=30) as client:
        yield client


def _create_doc(gateway: httpx.Client, who: Member, **body: object) -> dict:
    body.setdefault("title", "A doc")
    body.setdefault("content", "# Notes\n\nSome text.\n")
    resp = gateway.post("/docs", headers=who.auth, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _docs_count_becomes(gateway: httpx.Client, who: Member, expected: int) -> None:
    count = None
    for _ in range(50):  # the users service learns from events, within moments
        resp = gateway.get(f"/users/{who.username}")
        assert resp.status_code == 200, resp.text
        count = resp.json()["stats"]["docs"]
        if count == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"stats.docs is {count}, expected {expected}")


async def test_a_users_doc_count_counts_public_docs_only(fleet: RunningFleet, gateway: httpx.Client) -> None:
    alice = await member(fleet)
    public = _create_doc(gateway, alice, title="Public notes")
    private = _create_doc(gateway, alice, title="Private notes", visibility="private")
    _create_doc(gateway, alice, title="Unlisted notes", visibility="unlisted")
    await _docs_count_becomes(gateway, alice, 1)

    resp = gateway.patch(f"/docs/{private['id']}", headers=alice.auth, json={"visibility": "public"})
    assert resp.status_code == 200, resp.text
    await _docs_count_becomes(gateway, alice, 2)

    assert gateway.delete(f"/docs/{public['id']}", headers=alice.auth).status_code == 204
    resp = gateway.patch(f"/docs/{private['id']}", headers=alice.auth, json={"visibility": "private"})
    assert resp.status_code == 200, resp.text
    await _docs_count_becomes(gateway, alice, 0)
    # Deleting a private doc takes nothing from the count.
    assert gateway.delete(f"/docs/{private['id']}", headers=alice.auth).status_code == 204
    later = _create_doc(gateway, alice, title="Later notes")
    await _docs_count_becomes(gateway, alice, 1)
    assert gateway.get(f"/docs/{later['id']}").status_code == 200
