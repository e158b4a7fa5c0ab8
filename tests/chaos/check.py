"""After a fault: what the API shows against what the writers were promised, and derived counts
against a recount of the lists they are derived from."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.chaos.load import Writer

# Events are consumed within moments once everything is back; the counts get this long to agree.
SETTLE_SECONDS = 90.0


@dataclass
class Findings:
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)

    def lose(self, count: int, note: str) -> None:
        self.lost += count
        self.notes.append(f"lost {count}: {note}")

    def duplicate(self, count: int, note: str) -> None:
        self.duplicated += count
        self.notes.append(f"duplicated {count}: {note}")


async def _get(client: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    """A read once the fleet is back; a 503 is retried a while, since a gateway's circuit for a
    restarted service closes only at its next trial request (within seconds)."""
    deadline = time.monotonic() + 30
    while True:
        resp = await client.get(path, **kwargs)
        if resp.status_code != 503 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:300]}"
    return resp


async def _all(client: httpx.AsyncClient, path: str, auth: dict[str, str] | None = None) -> list[dict]:
    """Every item of a cursor-paginated list."""
    items: list[dict] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await _get(client, path, params=params, headers=auth or {})).json()
        items.extend(page["data"])
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            return items


async def _counts(client: httpx.AsyncClient, writer: Writer) -> dict[str, tuple[int, int]]:
    """(derived count, recount) of each of a user's stats."""
    username, auth = writer.member.username, writer.member.auth
    stats = (await _get(client, f"/users/{username}")).json()["stats"]
    recount = {
        kind: sum(
            1 for i in await _all(client, f"/users/{username}/{kind}", auth) if i["visibility"] == "public"
        )
        for kind in ("snippets", "docs")
    }
    recount["followers"] = len(await _all(client, f"/users/{username}/followers"))
    recount["following"] = len(await _all(client, f"/users/{username}/following"))
    return {name: (int(stats[name]), recount[name]) for name in recount}


async def settled_counts(client: httpx.AsyncClient, writer: Writer) -> dict[str, tuple[int, int]]:
    """The counts once they agree with the recount, or as they are after SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        counts = await _counts(client, writer)
        if all(derived == recount for derived, recount in counts.values()) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


async def check_writer(client: httpx.AsyncClient, writer: Writer, findings: Findings) -> None:
    username, auth = writer.member.username, writer.member.auth
    for kind in ("snippets", "docs"):
        listed = await _all(client, f"/users/{username}/{kind}", auth)
        by_id = {i["id"]: i for i in listed}
        for title, copies in Counter(i["title"] for i in listed).items():
            if copies > 1:
                findings.duplicate(copies - 1, f"{username}'s {kind} titled {title!r} appear {copies} times")
        known = {i.id for i in writer.items.values()}
        for item in writer.items.values():
            if item.kind != kind or not item.certain:
                continue
            found = by_id.get(item.id)
            if item.deleted and found is not None:
                findings.lose(1, f"{kind} {item.id} was deleted (204) but is listed")
            elif not item.deleted and found is None:
                findings.lose(1, f"{kind} {item.id} was acknowledged but is not listed")
            elif found is not None and (found["title"], found["visibility"]) != (item.title, item.visibility):
                findings.lose(
                    1,
                    f"{kind} {item.id} is {found['title']!r}/{found['visibility']}, "
                    f"acknowledged as {item.title!r}/{item.visibility}",
                )
        for found in listed:
            if found["id"] in known:
                continue
            # A create answered without a 2xx may have happened; anything else is a stray write.
            if found["title"] not in writer.open_creates:
                findings.duplicate(1, f"{kind} {found['id']} {found['title']!r} was never written")

    me = (await _get(client, "/users/me", headers=auth)).json()
    if writer.bio is not None and me["bio"] != writer.bio and me["bio"] not in writer.open_bios:
        findings.lose(1, f"{username}'s bio is {me['bio']!r}, acknowledged as {writer.bio!r}")

    following = {u["username"] for u in await _all(client, f"/users/{username}/following")}
    for target, state in writer.follows.items():
        if state is not None and (target in following) != state:
            findings.lose(
                1, f"{username} {'follows' if state else 'unfollowed'} {target} (2xx), lists say not"
            )

    for name, (derived, recount) in (await settled_counts(client, writer)).items():
        if derived > recount:
            findings.duplicate(
                derived - recount, f"{username}'s stats.{name} is {derived}, recount {recount}"
            )
        elif derived < recount:
            findings.lose(recount - derived, f"{username}'s stats.{name} is {derived}, recount {recount}")
