"""Every query of the social service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_social.models import follows

# Which side of the follows a list shows: who follows a user, or whom a user follows.
Side = Literal["followers", "following"]


@dataclass(frozen=True, slots=True)
class FollowRow:
    """One entry of a followers or following list: the other user, and since when."""

    user_id: UUID
    created_at: datetime


class FollowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, follower_id: UUID, followee_id: UUID) -> bool:
        """Whether the follow is new (an existing one is left as it was)."""
        query = (
            insert(follows)
            .values(follower_id=follower_id, followee_id=followee_id)
            .on_conflict_do_nothing()
            .returning(follows.c.follower_id)
        )
        return (await self.session.execute(query)).first() is not None

    async def remove(self, follower_id: UUID, followee_id: UUID) -> bool:
        """Whether there was a follow to remove."""
        query = (
            sa.delete(follows)
            .where(follows.c.follower_id == follower_id, follows.c.followee_id == followee_id)
            .returning(follows.c.follower_id)
        )
        return (await self.session.execute(query)).first() is not None

    async def page(
        self, side: Side, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[FollowRow]:
        """Newest first on (created_at, other user's id), `limit` rows after the keyset position."""
        if side == "followers":
            mine, other = follows.c.followee_id, follows.c.follower_id
        else:
            mine, other = follows.c.follower_id, follows.c.followee_id
        query = (
            sa.select(other.label("user_id"), follows.c.created_at)
            .where(mine == user_id)
            .order_by(follows.c.created_at.desc(), other.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(sa.tuple_(follows.c.created_at, other) < sa.tuple_(*after))  # type: ignore[arg-type]
        rows = (await self.session.execute(query)).all()
        return [FollowRow(user_id=r.user_id, created_at=r.created_at) for r in rows]

    async def followed_among(self, follower_id: UUID, ids: list[UUID]) -> set[UUID]:
        """Which of `ids` `follower_id` follows."""
        if not ids:
            return set()
        query = sa.select(follows.c.followee_id).where(
            follows.c.follower_id == follower_id, follows.c.followee_id.in_(ids)
        )
        return set((await self.session.execute(query)).scalars().all())
