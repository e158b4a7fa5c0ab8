"""Every query of the auth service: signing keys, refresh-token families, GitHub token custody."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.domain import ALGORITHM, NewSigningKey, StoredRefreshToken, StoredSigningKey
from codegram_auth.models import github_tokens, refresh_tokens, signing_keys

# Serialises "create the first key" and rotations across replicas starting at once.
_SIGNING_KEYS_LOCK = 0x636F6465_6772616D


def _signing_key(row: sa.Row[Any]) -> StoredSigningKey:
    return StoredSigningKey(kid=row.kid, private_key_sealed=row.private_key_encrypted)


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """Until the transaction ends, no other replica creates or rotates keys."""
        await self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_SIGNING_KEYS_LOCK)))

    async def current(self) -> StoredSigningKey | None:
        query = (
            sa.select(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        )
        row = (await self.session.execute(query)).first()
        return _signing_key(row) if row else None

    async def add(self, key: NewSigningKey, private_key_sealed: bytes) -> StoredSigningKey:
        row = (
            await self.session.execute(
                sa.insert(signing_keys)
                .values(
                    kid=key.kid,
                    algorithm=ALGORITHM,
                    public_jwk=key.public_jwk,
                    private_key_encrypted=private_key_sealed,
                )
                .returning(signing_keys)
            )
        ).one()
        return _signing_key(row)

    async def retire_current(self) -> None:
        await self.session.execute(
            sa.update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=sa.func.now())
        )

    async def remove_retired_before(self, cutoff: datetime) -> list[str]:
        removed = await self.session.execute(
            sa.delete(signing_keys)
            .where(signing_keys.c.retired_at.is_not(None), signing_keys.c.retired_at <= cutoff)
            .returning(signing_keys.c.kid)
        )
        return [str(k) for k in removed.scalars()]

    async def public_jwks(self) -> list[dict[str, Any]]:
        """Current and retired keys alike, newest first: retired ones still verify."""
        rows = await self.session.execute(
            sa.select(signing_keys.c.public_jwk).order_by(signing_keys.c.created_at.desc())
        )
        return list(rows.scalars())


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token_hash: bytes, *, family_id: UUID, user_id: UUID, expires_at: datetime) -> None:
        await self.session.execute(
            sa.insert(refresh_tokens).values(
                id=uuid.uuid4(),
                family_id=family_id,
                user_id=user_id,
                token_hash=token_hash,
                expires_at=expires_at,
            )
        )

    async def by_hash_for_update(self, token_hash: bytes) -> StoredRefreshToken | None:
        """The row lock makes concurrent spends of one token serial: the second finds it used."""
        query = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        return StoredRefreshToken(
            id=row.id,
            family_id=row.family_id,
            user_id=row.user_id,
            expires_at=row.expires_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
        )

    async def mark_used(self, token_id: UUID, at: datetime) -> None:
        await self.session.execute(
            sa.update(refresh_tokens).where(refresh_tokens.c.id == token_id).values(used_at=at)
        )

    async def revoke_family(self, family_id: UUID) -> None:
        await self.session.execute(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )

    async def family_of(self, token_hash: bytes, user_id: UUID) -> UUID | None:
        """The family of one of this user's tokens (None: no such token of theirs)."""
        query = sa.select(refresh_tokens.c.family_id).where(
            refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.user_id == user_id
        )
        family: UUID | None = (await self.session.execute(query)).scalar_one_or_none()
        return family


class GitHubTokenRepository:
    """GitHub access tokens held for their users, sealed: the github service asks for them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep(self, user_id: UUID, *, github_id: int, token_sealed: bytes, scope: str) -> None:
        values = {
            "user_id": user_id,
            "github_id": github_id,
            "token_encrypted": token_sealed,
            "scope": scope,
            "updated_at": datetime.now(UTC),
        }
        await self.session.execute(
            pg_insert(github_tokens)
            .values(**values)
            .on_conflict_do_update(index_elements=[github_tokens.c.user_id], set_=values)
        )

    async def of_user(self, user_id: UUID) -> tuple[bytes, str] | None:
        """(the sealed token, its scope), or None."""
        query = sa.select(github_tokens.c.token_encrypted, github_tokens.c.scope).where(
            github_tokens.c.user_id == user_id
        )
        row = (await self.session.execute(query)).first()
        return (bytes(row.token_encrypted), row.scope) if row else None
