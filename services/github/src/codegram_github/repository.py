"""Every query of the github service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_github.github_client import Cached
from codegram_github.models import accounts, etags, repositories, sync_jobs

ACTIVE = ("queued", "running")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RepoSort = Literal["stars", "pushed"]


@dataclass(frozen=True, slots=True)
class SyncJob:
    id: UUID
    user_id: UUID
    kind: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Repo:
    github_id: int
    name: str
    full_name: str
    description: str | None
    language: str | None
    stars: int
    forks: int
    html_url: str
    pushed_at: datetime | None
    languages: dict[str, int]


def _job(row: sa.Row[Any]) -> SyncJob:
    return SyncJob(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def _repo(row: sa.Row[Any]) -> Repo:
    return Repo(
        github_id=row.github_id,
        name=row.name,
        full_name=row.full_name,
        description=row.description,
        language=row.language,
        stars=row.stars,
        forks=row.forks,
        html_url=row.html_url,
        pushed_at=row.pushed_at,
        languages=dict(row.languages or {}),
    )


class SyncJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: UUID, kind: str, schedule_key: str | None = None) -> SyncJob | None:
        """A new queued job; None when one of that kind is already queued or running for the user,
        or the schedule already made this one (`schedule_key`)."""
        query = (
            insert(sync_jobs)
            .values(id=uuid.uuid4(), user_id=user_id, kind=kind, schedule_key=schedule_key)
            .on_conflict_do_nothing()
            .returning(sync_jobs)
        )
        row = (await self.session.execute(query)).first()
        return _job(row) if row else None

    async def active(self, user_id: UUID, kind: str) -> SyncJob | None:
        query = sa.select(sync_jobs).where(
            sync_jobs.c.user_id == user_id, sync_jobs.c.kind == kind, sync_jobs.c.status.in_(ACTIVE)
        )
        row = (await self.session.execute(query)).first()
        return _job(row) if row else None

    async def by_id(self, job_id: UUID, *, for_update: bool = False) -> SyncJob | None:
        query = sa.select(sync_jobs).where(sync_jobs.c.id == job_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _job(row) if row else None

    async def update(self, job_id: UUID, **values: Any) -> None:
        await self.session.execute(sa.update(sync_jobs).where(sync_jobs.c.id == job_id).values(**values))


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def signed_in(self, user_id: UUID, at: datetime) -> bool:
        """Record a sign-in; whether this user is new here."""
        query: Any = (
            insert(accounts)
            .values(user_id=user_id, first_signed_in_at=at, last_signed_in_at=at)
            .on_conflict_do_update(
                index_elements=[accounts.c.user_id],
                set_={"last_signed_in_at": sa.func.greatest(accounts.c.last_signed_in_at, at)},
            )
            .returning(sa.literal_column("(xmax = 0)").label("inserted"))
        )
        return bool((await self.session.execute(query)).scalar_one())

    async def ids(self, active_since: datetime | None = None) -> list[UUID]:
        query = sa.select(accounts.c.user_id).order_by(accounts.c.user_id)
        if active_since is not None:
            query = query.where(accounts.c.last_signed_in_at >= active_since)
        return list((await self.session.execute(query)).scalars().all())


class RepoRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace_all(self, user_id: UUID, repos: Sequence[Repo], synced_at: datetime) -> None:
        """Upsert what GitHub listed and remove the repositories it no longer lists."""
        if repos:
            rows = [
                {
                    "user_id": user_id,
                    "github_id": r.github_id,
                    "name": r.name,
                    "full_name": r.full_name,
                    "description": r.description,
                    "language": r.language,
                    "stars": r.stars,
                    "forks": r.forks,
                    "html_url": r.html_url,
                    "pushed_at": r.pushed_at,
                    "languages": r.languages,
                    "synced_at": synced_at,
                }
                for r in repos
            ]
            statement = insert(repositories).values(rows)
            columns = [c for c in rows[0] if c not in ("user_id", "github_id")]
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[repositories.c.user_id, repositories.c.github_id],
                    set_={c: statement.excluded[c] for c in columns},
                )
            )
        gone = sa.delete(repositories).where(repositories.c.user_id == user_id)
        if repos:
            gone = gone.where(repositories.c.github_id.not_in([r.github_id for r in repos]))
        await self.session.execute(gone)

    async def page(
        self, user_id: UUID, sort: RepoSort, after: tuple[Any, int] | None, limit: int
    ) -> list[Repo]:
        """Most stars or latest push first (never-pushed last), then by GitHub id (keyset)."""
        column: Any = repositories.c.stars
        if sort == "pushed":
            # A never-pushed repository sorts as the oldest push.
            column = sa.func.coalesce(repositories.c.pushed_at, sa.literal(EPOCH, sa.DateTime(timezone=True)))
        query = sa.select(repositories).where(repositories.c.user_id == user_id)
        query = query.order_by(column.desc(), repositories.c.github_id.desc()).limit(limit)
        if after is not None:
            query = query.where(sa.tuple_(column, repositories.c.github_id) < sa.tuple_(*after))  # type: ignore[arg-type]
        rows = (await self.session.execute(query)).all()
        return [_repo(r) for r in rows]

    async def languages(self, user_id: UUID) -> list[tuple[str, int, int]]:
        """(language, bytes, repositories using it) over the user's repositories, most bytes first."""
        entry = sa.func.jsonb_each_text(repositories.c.languages).table_valued("key", "value").alias("l")
        bytes_ = sa.func.sum(sa.cast(entry.c.value, sa.BigInteger))
        query = (
            sa.select(entry.c.key, bytes_.label("bytes"), sa.func.count().label("repos"))
            .select_from(repositories.join(entry, sa.true()))
            .where(repositories.c.user_id == user_id)
            .group_by(entry.c.key)
            .order_by(bytes_.desc(), entry.c.key)
        )
        return [(r.key, int(r.bytes), int(r.repos)) for r in (await self.session.execute(query)).all()]


class EtagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_of(self, user_id: UUID) -> dict[str, Cached]:
        query = sa.select(etags.c.url, etags.c.etag, etags.c.body, etags.c.link).where(
            etags.c.user_id == user_id
        )
        rows = (await self.session.execute(query)).all()
        return {r.url: Cached(r.etag, r.body, r.link) for r in rows}

    async def put_many(self, user_id: UUID, entries: dict[str, Cached]) -> None:
        """Store what GitHub answered for these URLs (one statement for a whole sync)."""
        if not entries:
            return
        rows = [
            {"user_id": user_id, "url": url, "etag": c.etag, "body": c.body, "link": c.link}
            for url, c in entries.items()
        ]
        query = insert(etags).values(rows)
        await self.session.execute(
            query.on_conflict_do_update(
                index_elements=[etags.c.user_id, etags.c.url],
                set_={
                    "etag": query.excluded.etag,
                    "body": query.excluded.body,
                    "link": query.excluded.link,
                    "updated_at": sa.func.now(),
                },
            )
        )
