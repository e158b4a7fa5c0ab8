"""Every query of the users service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_users.domain import GitHubAccount, GitHubLink, User
from codegram_users.models import full_name_key, username_key, users

# The counters kept from other services' events.
EventCounter = Literal["snippets_count", "docs_count", "followers_count", "following_count"]


def _to_user(row: sa.Row[Any]) -> User:
    github = None
    if row.github_id is not None:
        github = GitHubLink(
            id=row.github_id,
            login=row.github_login,
            followers=row.github_followers,
            following=row.github_following,
            public_repos=row.github_public_repos,
            synced_at=row.github_synced_at,
        )
    return User(
        id=row.id,
        username=row.username,
        full_name=row.full_name,
        avatar_url=row.avatar_url,
        bio=row.bio,
        location=row.location,
        website=row.website,
        email=row.email,
        created_at=row.created_at,
        updated_at=row.updated_at,
        followers=max(row.followers_count, 0),
        following=max(row.following_count, 0),
        snippets=max(row.snippets_count, 0),
        docs=max(row.docs_count, 0),
        github=github,
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_id(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _to_user(row) if row else None

    async def by_ids(self, ids: Sequence[UUID]) -> list[User]:
        if not ids:
            return []
        rows = (await self.session.execute(sa.select(users).where(users.c.id.in_(ids)))).all()
        return [_to_user(r) for r in rows]

    async def by_username(self, username: str) -> User | None:
        query = sa.select(users).where(username_key == username.lower())
        row = (await self.session.execute(query)).first()
        return _to_user(row) if row else None

    async def by_github_id(self, github_id: int, *, for_update: bool = False) -> User | None:
        query = sa.select(users).where(users.c.github_id == github_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _to_user(row) if row else None

    async def username_taken(self, username: str) -> bool:
        query = sa.select(sa.literal(1)).where(username_key == username.lower())
        return (await self.session.execute(query)).first() is not None

    async def search(self, prefix: str | None, after: str | None, limit: int) -> list[User]:
        """Users whose username or full name starts with `prefix`, in username order (keyset)."""
        query = sa.select(users).order_by(username_key).limit(limit)
        if prefix:
            pattern = _like_prefix(prefix.lower())
            query = query.where(
                sa.or_(username_key.like(pattern, escape="\\"), full_name_key.like(pattern, escape="\\"))
            )
        if after is not None:
            query = query.where(username_key > after)
        rows = (await self.session.execute(query)).all()
        return [_to_user(r) for r in rows]

    async def add_to_count(self, user_id: UUID, counter: EventCounter, delta: int) -> None:
        # Stored as the plain sum, so that deltas add up in any order (a delete handled before its
        # create, an event replayed from the dead letters); `_to_user` shows it never below zero.
        column = users.c[counter]
        await self.session.execute(
            sa.update(users).where(users.c.id == user_id).values({column: column + delta})
        )

    async def insert_from_github(self, user_id: UUID, username: str, account: GitHubAccount) -> User:
        now = datetime.now(UTC)
        row = (
            await self.session.execute(
                sa.insert(users)
                .values(
                    id=user_id,
                    username=username,
                    created_at=now,
                    updated_at=now,
                    github_synced_at=now,
                    **_github_values(account),
                    full_name=account.name,
                    avatar_url=account.avatar_url,
                    bio=account.bio,
                    location=account.location,
                    website=account.blog,
                    email=account.email,
                )
                .returning(users)
            )
        ).one()
        return _to_user(row)

    async def update_github(self, user_id: UUID, account: GitHubAccount) -> User:
        now = datetime.now(UTC)
        row = (
            await self.session.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(
                    updated_at=now,
                    github_synced_at=now,
                    avatar_url=account.avatar_url,
                    **_github_values(account),
                )
                .returning(users)
            )
        ).one()
        return _to_user(row)

    async def apply_github_profile(
        self, user_id: UUID, login: str, counts: tuple[int, int, int], synced_at: datetime
    ) -> bool:
        """The `github` block from a sync, unless a newer sync's is already there (events can come
        out of order); whether it changed anything."""
        followers, following, public_repos = counts
        query = (
            sa.update(users)
            .where(
                users.c.id == user_id,
                users.c.github_id.is_not(None),
                sa.or_(users.c.github_synced_at.is_(None), users.c.github_synced_at < synced_at),
            )
            .values(
                github_login=login,
                github_followers=followers,
                github_following=following,
                github_public_repos=public_repos,
                github_synced_at=synced_at,
            )
            .returning(users.c.id)
        )
        return (await self.session.execute(query)).first() is not None

    async def update_profile(self, user_id: UUID, changes: dict[str, Any]) -> User:
        row = (
            await self.session.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(**changes, updated_at=datetime.now(UTC))
                .returning(users)
            )
        ).one()
        return _to_user(row)


def _github_values(account: GitHubAccount) -> dict[str, Any]:
    return {
        "github_id": account.github_id,
        "github_login": account.login,
        "github_followers": account.followers,
        "github_following": account.following,
        "github_public_repos": account.public_repos,
    }
