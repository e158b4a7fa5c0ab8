"""The chaos suite's write load and its ledger: what each write was answered, and what must be there.

Members write through the gateways at a steady pace: snippets and docs created, updated (title and
visibility, so the public counts move) and deleted, profiles edited, follows made and undone. Every
answer is recorded. A 2xx is a promise the fleet must keep; anything else leaves that item's fate
open (a 503 can come after the service committed), so the checks then accept either outcome,
except a second copy.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from codegram_devstack.e2e import Member

# A refusal while a dependency is down is a 503 within this (the "fast").
FAST_REFUSAL_SECONDS = 0.1
VISIBILITIES = ("public", "unlisted", "private")
KINDS = ("snippets", "docs")
_sequence = itertools.count(1)


@dataclass
class Item:
    """A snippet or doc as its author was told it is."""

    kind: str
    id: str
    title: str
    visibility: str
    deleted: bool = False
    certain: bool = True  # False once a write on it got no clear answer


@dataclass
class Writer:
    """One member's writes and what they were answered."""

    member: Member
    items: dict[str, Item] = field(default_factory=dict)
    # Titles of creates without a clear answer: each may exist once, or not at all.
    open_creates: set[str] = field(default_factory=set)
    bio: str | None = None  # the last bio acknowledged
    open_bios: set[str] = field(default_factory=set)  # bios sent after it without a clear answer
    follows: dict[str, bool | None] = field(default_factory=dict)  # username: following (None: open)


@dataclass
class Refusal:
    """A 503: when it was asked for, how long it took, and what it was."""

    sent: float  # time.monotonic()
    seconds: float
    told: str


@dataclass
class Tally:
    """What the load saw: answers by status, and the 503s."""

    accepted: int = 0
    accepted_seconds: list[float] = field(default_factory=list)  # how long each 2xx took
    statuses: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # Per service written to: since when its writes (anyone's) fail, and the longest such stretch.
    down_since: dict[str, float] = field(default_factory=dict)
    longest_down: float = 0.0

    @property
    def server_errors(self) -> int:
        return self.statuses["500"]

    @property
    def hangs(self) -> int:
        """Answers that are neither a result nor a prompt refusal: an upstream error or timeout at
        the gateway, or nothing within the client's 10 s."""
        return sum(n for k, n in self.statuses.items() if k in ("502", "504") or k.endswith("Timeout"))

    def refused_between(self, began: float, ended: float) -> list[Refusal]:
        """The 503s asked for while a dependency was down (not those already under way when it
        went, which take as long as they had been running)."""
        return [r for r in self.refusals if began <= r.sent <= ended]


class Gateways:
    """The client side of a load balancer: round robin over the gateways, and a request that could
    not connect (so was never sent) goes to the next one."""

    def __init__(self, urls: list[str]) -> None:
        self.clients = [
            httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=httpx.Timeout(10.0, connect=1.0))
            for url in urls
        ]
        self._turn = itertools.count()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        first = next(self._turn)
        error: Exception | None = None
        for attempt in range(len(self.clients)):
            client = self.clients[(first + attempt) % len(self.clients)]
            try:
                return await client.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class Load:
    """Writers at `rate` writes per second each, until stopped."""

    def __init__(self, gateways: Gateways, writers: list[Writer], rate: float, seed: int) -> None:
        self.gateways = gateways
        self.writers = writers
        self.rate = rate
        self.random = random.Random(seed)
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(w)) for w in self.writers]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _run(self, writer: Writer) -> None:
        period = 1.0 / self.rate
        # Spread the writers over the first period rather than all at once.
        await asyncio.sleep(self.random.random() * period)
        while not self._stop.is_set():
            began = time.monotonic()
            await self._write_once(writer)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - began)))

    async def _write_once(self, writer: Writer) -> None:
        live = [i for i in writer.items.values() if i.certain and not i.deleted]
        choice = self.random.random()
        if choice < 0.35 or not live:
            await self._create(writer, self.random.choice(KINDS))
        elif choice < 0.6:
            await self._update(writer, self.random.choice(live))
        elif choice < 0.72:
            await self._delete(writer, self.random.choice(live))
        elif choice < 0.84:
            await self._edit_profile(writer)
        else:
            await self._follow(writer)

    async def _send(
        self,
        writer: Writer,
        service: str,
        method: str,
        path: str,
        ok: Callable[[httpx.Response], Awaitable[None]],
        **kw: Any,
    ) -> bool:
        """Send one write to `service`; True when it was acknowledged (and `ok` recorded it)."""
        began = time.monotonic()
        try:
            resp = await self.gateways.request(method, path, headers=writer.member.auth, **kw)
        except httpx.HTTPError as exc:
            # A gateway died under the request, or nothing answered in time: the outcome is open.
            self.tally.statuses[type(exc).__name__] += 1
            self.tally.down_since.setdefault(service, began)
            return False
        elapsed = time.monotonic() - began
        self.tally.statuses[str(resp.status_code)] += 1
        if 200 <= resp.status_code < 300:
            self.tally.accepted += 1
            self.tally.accepted_seconds.append(elapsed)
            await ok(resp)
            since = self.tally.down_since.pop(service, None)
            if since is not None:
                self.tally.longest_down = max(self.tally.longest_down, time.monotonic() - since)
            return True
        if resp.status_code == 503:
            told = f"{method} {path} at {time.strftime('%H:%M:%S')} ({resp.headers.get('x-request-id')})"
            self.tally.refusals.append(Refusal(began, elapsed, told))
        elif resp.status_code < 500:
            # Every write here is valid: a 4xx is a defect of the fleet (or of this suite).
            self.tally.unexpected.append(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        self.tally.down_since.setdefault(service, began)
        return False

    async def _create(self, writer: Writer, kind: str) -> None:
        title = f"chaos {kind} {next(_sequence)}"
        visibility = self.random.choice(VISIBILITIES)
        body: dict[str, Any] = {"title": title, "visibility": visibility}
        if kind == "snippets":
            body["code"] = f"print({title!r})\n"
        else:
            body["content"] = f"# {title}\n\nWritten under load.\n"

        async def ok(resp: httpx.Response) -> None:
            created = resp.json()
            writer.items[created["id"]] = Item(kind, created["id"], title, visibility)

        if not await self._send(writer, kind, "POST", f"/{kind}", ok, json=body):
            writer.open_creates.add(title)

    async def _update(self, writer: Writer, item: Item) -> None:
        title = f"chaos {item.kind} {next(_sequence)}"
        visibility = self.random.choice(VISIBILITIES)

        async def ok(_: httpx.Response) -> None:
            item.title, item.visibility = title, visibility

        body = {"title": title, "visibility": visibility}
        if not await self._send(writer, item.kind, "PATCH", f"/{item.kind}/{item.id}", ok, json=body):
            item.certain = False

    async def _delete(self, writer: Writer, item: Item) -> None:
        async def ok(_: httpx.Response) -> None:
            item.deleted = True

        if not await self._send(writer, item.kind, "DELETE", f"/{item.kind}/{item.id}", ok):
            item.certain = False

    async def _edit_profile(self, writer: Writer) -> None:
        bio = f"bio {next(_sequence)}"

        async def ok(_: httpx.Response) -> None:
            writer.bio = bio
            writer.open_bios.clear()

        if not await self._send(writer, "users", "PATCH", "/users/me", ok, json={"bio": bio}):
            writer.open_bios.add(bio)

    async def _follow(self, writer: Writer) -> None:
        others = [w.member.username for w in self.writers if w is not writer]
        target = self.random.choice(others)
        follow = not writer.follows.get(target)
        method = "PUT" if follow else "DELETE"

        async def ok(_: httpx.Response) -> None:
            writer.follows[target] = follow

        if not await self._send(writer, "social", method, f"/users/{target}/follow", ok):
            writer.follows[target] = None
