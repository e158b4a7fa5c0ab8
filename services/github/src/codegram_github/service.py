"""The github service's use cases: sync requests and their status, what a sync does, the synced
repositories and languages, the contribution calendar, and what the schedules enqueue.

No transaction is held across a call to GitHub or a peer: a sync reads GitHub first and stores
what it read in one unit of work at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.auth import GitHubTokens
from codegram_github.github_client import (
    Cached,
    GitHubClient,
    GitHubRefused,
    GitHubUnavailable,
    RateLimited,
)
from codegram_github.peers import Person, UserLookup
from codegram_github.repository import (
    EPOCH,
    AccountRepository,
    EtagRepository,
    Repo,
    RepoRepository,
    RepoSort,
    SyncJob,
    SyncJobRepository,
)
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.jobs import JOB_KIND_HEADER, job_subject
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.web.errors import BadGateway, NotFound, Unavailable, ValidationFailed
from codegram_kit.web.pagination import decode_cursor, encode_cursor

log = logging.getLogger("codegram.github")

SERVICE = "github"
QUEUE_KIND = "sync"  # the work queue's one job kind; the row's `kind` says what to sync
FULL, REPOS, PROFILE = "sync", "repos", "profile"
SCHEDULES = {REPOS: "repositories of users active lately", PROFILE: "profiles of everyone"}
REPOS_PER_PAGE = 100


class NoGitHubToken(Exception):
    """The user never signed in with GitHub (or auth lost the token): no sync can succeed."""


# -- enqueueing --------------------------------------------------------------------------------------
Enqueue = Callable[[AsyncSession, SyncJob], Awaitable[None]]


def outbox_enqueuer(outbox: Outbox) -> Enqueue:
    """Jobs go to the work queue through the outbox, in the transaction that records them: a job
    row never exists without its message, nor a message without its row."""

    async def enqueue(session: AsyncSession, job: SyncJob) -> None:
        payload = json.dumps({"job_id": str(job.id)}).encode()
        headers = {JOB_KIND_HEADER: QUEUE_KIND}
        await outbox.add_raw(
            session, job_subject(SERVICE, QUEUE_KIND), payload, headers, msg_id=f"sync-{job.id}"
        )

    return enqueue


class SyncRequests:
    """Sync jobs asked for by a user, a first sign-in or a schedule, and their status."""

    def __init__(self, db: Database, enqueue: Enqueue) -> None:
        self.db = db
        self.enqueue = enqueue

    async def request(self, user_id: str) -> SyncJob:
        """A new full sync, or the one already queued or running for this user."""
        uid = parse_id(user_id)
        if uid is None:
            raise NotFound("user not found")
        for _ in range(3):  # the active job can finish between the insert and the read
            async with self.db.unit_of_work() as session:
                jobs = SyncJobRepository(session)
                job = await jobs.add(uid, FULL)
                if job is not None:
                    await self.enqueue(session, job)
                    return job
                existing = await jobs.active(uid, FULL)
                if existing is not None:
                    return existing
        raise Unavailable("sync requests are contended; try again")

    async def status(self, user_id: str, job_id: str) -> SyncJob:
        """The job, to its owner only: anyone else's id is as unknown as a made-up one."""
        uid, jid = parse_id(user_id), parse_id(job_id)
        if uid is None or jid is None:
            raise NotFound("sync job not found")
        async with self.db.unit_of_work() as session:
            job = await SyncJobRepository(session).by_id(jid)
        if job is None or job.user_id != uid:
            raise NotFound("sync job not found")
        return job

    async def record_sign_in(self, session: AsyncSession, user_id: UUID, at: datetime) -> bool:
        """Mark the user active; a user new here gets a first sync. Whether one was queued."""
        if not await AccountRepository(session).signed_in(user_id, at):
            return False
        job = await SyncJobRepository(session).add(user_id, FULL)
        if job is not None:
            await self.enqueue(session, job)
        return job is not None

    async def enqueue_scheduled(self, kind: str, now: datetime, active_days: int) -> dict[str, int]:
        """One job of `kind` per eligible user for `now`'s day (profiles: its week): rerun the same
        day, or run from two replicas at once, and nothing is enqueued twice (the schedule key is
        unique)."""
        if kind not in SCHEDULES:
            raise ValueError(f"no schedule {kind!r} (known: {', '.join(SCHEDULES)})")
        since = now - timedelta(days=active_days) if kind == REPOS else None
        async with self.db.unit_of_work() as session:
            users = await AccountRepository(session).ids(since)
        today = now.astimezone(UTC).date()
        # Repositories once a day; profiles once a week (the ISO week), however often it runs.
        year, week, _ = today.isocalendar()
        period = today.isoformat() if kind == REPOS else f"{year}-W{week:02d}"
        enqueued = 0
        for start in range(0, len(users), 500):
            async with self.db.unit_of_work() as session:
                jobs = SyncJobRepository(session)
                for user_id in users[start : start + 500]:
                    job = await jobs.add(user_id, kind, schedule_key=f"{kind}:{user_id}:{period}")
                    if job is not None:
                        await self.enqueue(session, job)
                        enqueued += 1
        return {"eligible": len(users), "enqueued": enqueued, "skipped": len(users) - enqueued}


# -- what a sync does ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GitHubProfile:
    user_id: UUID
    github_id: int
    login: str
    followers: int
    following: int
    public_repos: int
    synced_at: datetime


class ProfilePublisher(Protocol):
    async def profile_synced(self, profile: GitHubProfile) -> None: ...


class TokenSource(Protocol):
    async def token_of(self, user_id: str) -> Any: ...


class BufferedEtags:
    """A user's ETags read once at the start of a sync and written with its results (or, when it
    stops early, on their own), rather than a transaction per request."""

    def __init__(self, db: Database, user_id: UUID) -> None:
        self.db = db
        self.user_id = user_id
        self.known: dict[str, Cached] = {}
        self.changed: dict[str, Cached] = {}

    async def load(self) -> None:
        async with self.db.unit_of_work() as session:
            self.known = await EtagRepository(session).all_of(self.user_id)

    async def get(self, url: str) -> Cached | None:
        return self.changed.get(url) or self.known.get(url)

    async def put(self, url: str, cached: Cached) -> None:
        self.changed[url] = cached

    async def write(self, session: AsyncSession) -> None:
        await EtagRepository(session).put_many(self.user_id, self.changed)
        self.known.update(self.changed)
        self.changed.clear()

    async def save(self) -> None:
        """What this run learned, kept even though it did not finish: the next run's 304s."""
        if self.changed:
            with contextlib.suppress(Exception):
                async with self.db.unit_of_work() as session:
                    await self.write(session)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _repo(raw: Any, languages: dict[str, int]) -> Repo:
    return Repo(
        github_id=int(raw["id"]),
        name=str(raw["name"]),
        full_name=str(raw["full_name"]),
        description=raw.get("description"),
        language=raw.get("language"),
        stars=_int(raw.get("stargazers_count")),
        forks=_int(raw.get("forks_count")),
        html_url=str(raw.get("html_url") or ""),
        pushed_at=_time(raw.get("pushed_at")),
        languages=languages,
    )


def _languages(body: Any) -> dict[str, int]:
    if not isinstance(body, dict):
        return {}
    return {str(k): v for k, v in body.items() if isinstance(v, int) and v >= 0}


def _most_telling(group: BaseExceptionGroup[Any]) -> BaseException:
    """Of a sync's concurrent failures, the one that decides what happens to the job: a rate limit
    (wait) before a refusal (give up) before anything else (retry)."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    for kind in (RateLimited, NoGitHubToken, GitHubRefused, GitHubUnavailable):
        found = [e for e in flat if isinstance(e, kind)]
        if found:
            return max(found, key=lambda e: e.until) if kind is RateLimited else found[0]  # type: ignore[attr-defined]
    return flat[0]


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    repositories: int
    requests_unchanged: bool


class Syncer:
    """Runs one sync job: GitHub first (conditional requests), then one unit of work."""

    def __init__(
        self,
        db: Database,
        github: GitHubClient,
        tokens: TokenSource,
        publisher: Callable[[AsyncSession], ProfilePublisher],
    ) -> None:
        self.db = db
        self.github = github
        self.tokens = tokens
        self.publisher = publisher

    async def start(self, job_id: UUID, attempt: int) -> SyncJob | None:
        """Mark the job running (this is its `attempt`th run); None when it has settled already
        (a redelivery after its results were committed) or does not exist."""
        async with self.db.unit_of_work() as session:
            jobs = SyncJobRepository(session)
            job = await jobs.by_id(job_id, for_update=True)
            if job is None or job.status in ("succeeded", "failed"):
                return None
            await jobs.update(job_id, status="running", attempts=attempt, started_at=datetime.now(UTC))
            return job

    async def settle(self, job_id: UUID, status: str, error: str | None) -> None:
        finished = datetime.now(UTC) if status in ("succeeded", "failed") else None
        async with self.db.unit_of_work() as session:
            jobs = SyncJobRepository(session)
            job = await jobs.by_id(job_id, for_update=True)
            if job is not None and job.status not in ("succeeded", "failed"):
                await jobs.update(job_id, status=status, error=error, finished_at=finished)

    async def run(self, job: SyncJob) -> SyncOutcome:
        token = await self.tokens.token_of(str(job.user_id))
        if token is None:
            raise NoGitHubToken("the user has no GitHub token (never signed in with GitHub)")
        etags = BufferedEtags(self.db, job.user_id)
        await etags.load()
        try:
            return await self._run(job, token.access_token, etags)
        except BaseException:
            await etags.save()
            raise

    async def _run(self, job: SyncJob, token: str, etags: BufferedEtags) -> SyncOutcome:
        me = await self.github.get(token, "/user", etags)
        body = me.body if isinstance(me.body, dict) else {}
        login = str(body.get("login") or "")
        if not login:
            raise GitHubUnavailable("GitHub's /user answered no login")
        synced_at = datetime.now(UTC)
        profile = GitHubProfile(
            user_id=job.user_id,
            github_id=_int(body.get("id")),
            login=login,
            followers=_int(body.get("followers")),
            following=_int(body.get("following")),
            public_repos=_int(body.get("public_repos")),
            synced_at=synced_at,
        )
        unchanged = me.not_modified
        repos: list[Repo] | None = None
        if job.kind in (FULL, REPOS):
            listing, listing_unchanged = await self.github.get_all_pages(
                token, f"/users/{login}/repos?per_page={REPOS_PER_PAGE}&type=owner&sort=full_name", etags
            )
            public = [r for r in listing if isinstance(r, dict) and not r.get("private") and "id" in r]
            languages: dict[int, dict[str, int]] = {}

            async def fetch_languages(raw: dict[str, Any]) -> bool:
                fetched = await self.github.get(token, f"/repos/{raw['full_name']}/languages", etags)
                languages[int(raw["id"])] = _languages(fetched.body)
                return fetched.not_modified

            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(fetch_languages(r)) for r in public]
            except BaseExceptionGroup as failures:
                raise _most_telling(failures) from None
            unchanged = unchanged and listing_unchanged and all(t.result() for t in tasks)
            repos = [_repo(r, languages.get(int(r["id"]), {})) for r in public]
        async with self.db.unit_of_work() as session:
            if repos is not None:
                await RepoRepository(session).replace_all(job.user_id, repos, synced_at)
            await self.publisher(session).profile_synced(profile)
            await etags.write(session)
            jobs = SyncJobRepository(session)
            await jobs.update(job.id, status="succeeded", error=None, finished_at=datetime.now(UTC))
        return SyncOutcome(repositories=len(repos or ()), requests_unchanged=unchanged)


# -- repositories and languages ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LanguageShare:
    language: str
    bytes: int
    share: float
    repos: int


def _bigint(value: Any) -> bool:
    """A value a cursor may carry into a BIGINT comparison (anything else is a 400, not a 500)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _repo_cursor(repo: Repo, sort: RepoSort) -> str:
    key: Any = repo.stars if sort == "stars" else (repo.pushed_at or EPOCH).isoformat()
    return encode_cursor({"s": sort, "k": key, "i": repo.github_id})


def _repo_position(cursor: str | None, sort: RepoSort) -> tuple[Any, int] | None:
    position = decode_cursor(cursor, ("s", "k", "i"))
    if position is None:
        return None
    bad = ValidationFailed(
        "invalid cursor", [{"field": "cursor", "in": "query", "message": "invalid cursor"}]
    )
    key, github_id = position["k"], position["i"]
    if position["s"] != sort or not _bigint(github_id):
        raise bad
    if sort == "stars":
        if not _bigint(key):
            raise bad
        return key, github_id
    try:
        pushed = datetime.fromisoformat(key) if isinstance(key, str) else None
    except ValueError:
        pushed = None
    if pushed is None or pushed.tzinfo is None:
        raise bad
    return pushed, github_id


class Showcase:
    """What a profile shows of a user's GitHub: repositories and languages, from the last sync."""

    def __init__(self, db: Database, users: UserLookup) -> None:
        self.db = db
        self.users = users

    async def _person(self, username: str) -> Person:
        person = await self.users.find(username)
        if person is None:
            raise NotFound("user not found")
        return person

    async def repositories(
        self, username: str, sort: RepoSort, cursor: str | None, limit: int
    ) -> tuple[list[Repo], str | None]:
        after = _repo_position(cursor, sort)
        person = await self._person(username)
        async with self.db.unit_of_work() as session:
            rows = await RepoRepository(session).page(person.id, sort, after, limit + 1)
        page = rows[:limit]
        return page, (_repo_cursor(page[-1], sort) if len(rows) > limit else None)

    async def languages(self, username: str) -> list[LanguageShare]:
        """Bytes per language over the synced repositories, largest first; shares sum to 1."""
        person = await self._person(username)
        async with self.db.unit_of_work() as session:
            rows = await RepoRepository(session).languages(person.id)
        total = sum(b for _, b, _ in rows)
        if total <= 0:
            return []
        return [LanguageShare(language=l, bytes=b, share=b / total, repos=n) for l, b, n in rows]  # noqa: E741


# -- contributions ----------------------------------------------------------------------------------------
CONTRIBUTIONS_QUERY = """
query($login: String!, $from: DateTime!, $to: DateTime!) {
  user(login: $login) {
    contributionsCollection(from: $from, to: $to) {
      contributionCalendar { totalContributions weeks { contributionDays { date contributionCount } } }
    }
  }
}
"""
MAX_YEARS = 5
DEFAULT_DAYS = 365


# GitHub began in 2008; a day after today allows for the time zones ahead of UTC.
EARLIEST = date(2008, 1, 1)


def contribution_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The days asked for: the last 365 days by default; `from` after `to`, more than five years,
    or a day before 2008 or after tomorrow is a 400."""
    latest = today + timedelta(days=1)
    for name, value in (("from", start), ("to", end)):
        if value is not None and not EARLIEST <= value <= latest:
            raise ValidationFailed(
                f"{name} is out of range",
                [{"field": name, "in": "query", "message": f"must be from {EARLIEST} to {latest}"}],
            )
    end = end or (min(today, start + timedelta(days=DEFAULT_DAYS - 1)) if start else today)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "from is after to", [{"field": "from", "in": "query", "message": "must not be after to"}]
        )
    try:
        limit = start.replace(year=start.year + MAX_YEARS)
    except ValueError:  # 29 February
        limit = start.replace(year=start.year + MAX_YEARS, day=28)
    if end >= limit:
        raise ValidationFailed(
            "range too long",
            [{"field": "to", "in": "query", "message": f"the range may span at most {MAX_YEARS} years"}],
        )
    return start, end


def year_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """GitHub's contributionsCollection spans at most a year: consecutive windows of up to 365 days."""
    chunks = []
    while start <= end:
        stop = min(end, start + timedelta(days=364))
        chunks.append((start, stop))
        start = stop + timedelta(days=1)
    return chunks


class SingleFlight:
    """One computation per key in this process at a time: callers for a key in flight share its result."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(fn())
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight)


class Contributions:
    """The contribution calendar, cached in Redis with a TTL. One GitHub call per user and range at
    a time across the fleet: a process coalesces its own callers (SingleFlight), and the processes
    agree through a Redis lock, the others waiting for the cache it fills."""

    def __init__(
        self,
        users: UserLookup,
        tokens: GitHubTokens,
        github: GitHubClient,
        redis: Redis | None,
        flights: SingleFlight,
        *,
        cache_seconds: int,
        lock_seconds: float,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.github = github
        self.redis = redis
        self.flights = flights
        self.cache_seconds = cache_seconds
        self.lock_seconds = lock_seconds

    async def calendar(self, username: str, start: date | None, end: date | None) -> dict[str, Any]:
        first, last = contribution_range(start, end, datetime.now(UTC).date())
        person = await self.users.find(username)
        if person is None:
            raise NotFound("user not found")
        key = f"github:contributions:{person.id}:{first.isoformat()}:{last.isoformat()}"
        cached = await self._cached(key)
        if cached is not None:
            return cached
        return await self.flights.run(key, lambda: self._across_replicas(key, person, first, last))  # type: ignore[no-any-return]

    async def _cached(self, key: str) -> dict[str, Any] | None:
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(key)
        except Exception:  # Redis away: GitHub answers, just not cached
            return None
        return json.loads(raw) if raw else None

    async def _across_replicas(self, key: str, person: Person, first: date, last: date) -> dict[str, Any]:
        if self.redis is None:
            return await self._fetch(person, first, last)
        lock, owner = f"{key}:lock", secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_seconds + 5
        while True:
            try:
                acquired = bool(await self.redis.set(lock, owner, nx=True, px=int(self.lock_seconds * 1000)))
            except Exception:
                return await self._fetch(person, first, last)
            if acquired:
                try:
                    cached = await self._cached(key)  # filled while this one waited for the lock
                    if cached is not None:
                        return cached
                    result = await self._fetch(person, first, last)
                    with contextlib.suppress(Exception):
                        await self.redis.set(key, json.dumps(result), ex=self.cache_seconds)
                    return result
                finally:
                    with contextlib.suppress(Exception):
                        if await self.redis.get(lock) == owner.encode():
                            await self.redis.delete(lock)
            # Another replica is asking GitHub: wait for the cache it fills, or for its lock to go.
            while loop.time() < deadline:
                await asyncio.sleep(0.05)
                cached = await self._cached(key)
                if cached is not None:
                    return cached
                with contextlib.suppress(Exception):
                    if not await self.redis.exists(lock):
                        break
            else:
                raise Unavailable("contributions are being fetched; try again", retry_after=1)

    async def _fetch(self, person: Person, first: date, last: date) -> dict[str, Any]:
        token = await self.tokens.token_of(str(person.id))
        if token is None or not person.github_login:
            raise NotFound("user not found")  # never signed in to CodeGram with GitHub
        days: dict[str, int] = {}
        try:
            for chunk_start, chunk_end in year_chunks(first, last):
                variables = {
                    "login": person.github_login,
                    "from": f"{chunk_start.isoformat()}T00:00:00Z",
                    "to": f"{chunk_end.isoformat()}T23:59:59Z",
                }
                data = await self.github.graphql(token.access_token, CONTRIBUTIONS_QUERY, variables)
                days.update(_calendar_days(data))
        except RateLimited as exc:
            retry = max(1, int(exc.until - datetime.now(UTC).timestamp()) + 1)
            raise Unavailable(
                "GitHub's rate limit is exhausted; try again later", retry_after=retry
            ) from None
        except GitHubRefused as exc:
            if exc.status == 404:
                raise NotFound("user not found") from None
            raise BadGateway("GitHub refused the contributions query") from None
        except GitHubUnavailable:
            raise BadGateway("GitHub is unavailable") from None
        wanted = sorted(d for d in days if first.isoformat() <= d <= last.isoformat())
        calendar = [{"date": d, "count": days[d]} for d in wanted]
        return {"total": sum(c["count"] for c in calendar), "days": calendar}


def _calendar_days(data: dict[str, Any]) -> dict[str, int]:
    user = data.get("user") or {}
    calendar = ((user.get("contributionsCollection") or {}).get("contributionCalendar")) or {}
    days: dict[str, int] = {}
    for week in calendar.get("weeks") or []:
        for day in week.get("contributionDays") or []:
            if isinstance(day, dict) and isinstance(day.get("date"), str):
                days[day["date"]] = _int(day.get("contributionCount"))
    return days


__all__: Sequence[str] = (
    "Contributions",
    "GitHubProfile",
    "LanguageShare",
    "NoGitHubToken",
    "Showcase",
    "SingleFlight",
    "SyncRequests",
    "Syncer",
    "outbox_enqueuer",
)
