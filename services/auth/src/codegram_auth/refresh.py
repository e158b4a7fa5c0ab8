"""Refresh tokens: opaque, stored hashed, in families that rotate on use and die on reuse."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.models import refresh_tokens


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Rotation:
    """The outcome of presenting a refresh token: a new token in the same family, or nothing (and
    on reuse, the family that was revoked for it)."""

    user_id: UUID | None = None
    family_id: UUID | None = None
    new_token: str | None = None
    reuse_detected: bool = False


class RefreshTokens:
    def __init__(self, session: AsyncSession, ttl: int) -> None:
        self.session = session
        self.ttl = ttl

    async def issue(self, user_id: UUID, family_id: UUID | None = None) -> tuple[str, UUID]:
        """A new token, in a new family (a new sign-in session) unless one is given."""
        token = secrets.token_urlsafe(32)
        family_id = family_id or uuid.uuid4()
        await self.session.execute(
            sa.insert(refresh_tokens).values(
                id=uuid.uuid4(),
                family_id=family_id,
                user_id=user_id,
                token_hash=_hash(token),
                expires_at=datetime.now(UTC) + timedelta(seconds=self.ttl),
            )
        )
        return token, family_id

    async def rotate(self, token: str) -> Rotation:
        """Spend `token` for a new one in its family. The row lock makes concurrent spends serial:
        the second finds it used, which is reuse, and the whole family is revoked."""
        row = (
            await self.session.execute(
                sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == _hash(token)).with_for_update()
            )
        ).first()
        now = datetime.now(UTC)
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return Rotation()
        if row.used_at is not None:
            await self.revoke_family(row.family_id)
            return Rotation(user_id=row.user_id, family_id=row.family_id, reuse_detected=True)
        await self.session.execute(
            sa.update(refresh_tokens).where(refresh_tokens.c.id == row.id).values(used_at=now)
        )
        new_token, _ = await self.issue(row.user_id, row.family_id)
        return Rotation(user_id=row.user_id, family_id=row.family_id, new_token=new_token)

    async def revoke_family(self, family_id: UUID) -> None:
        await self.session.execute(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )

    async def revoke_family_of(self, token: str, user_id: UUID) -> UUID | None:
        """Revoke the family of one of this user's tokens; returns it (None: no such token)."""
        family = (
            await self.session.execute(
                sa.select(refresh_tokens.c.family_id).where(
                    refresh_tokens.c.token_hash == _hash(token), refresh_tokens.c.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if family is None:
            return None
        await self.revoke_family(family)
        return family
