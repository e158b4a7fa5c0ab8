"""Access-token signing keys: Ed25519, one current, retired ones kept for verification until removed."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.crypto import SecretBox
from codegram_auth.models import signing_keys
from codegram_kit.auth import ACCESS_TOKEN_TYPE

ALGORITHM = "EdDSA"
# Serialises "create the first key" across replicas starting at once.
_FIRST_KEY_LOCK = 0x636F6465_6772616D


class SigningKeys:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.session = session
        self.box = box

    async def current(self) -> tuple[str, Ed25519PrivateKey]:
        row = await self._current_row()
        if row is None:
            await self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_KEY_LOCK)))
            row = await self._current_row() or await self._create()
        key = serialization.load_pem_private_key(self.box.open(row.private_key_encrypted), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return row.kid, key

    async def _current_row(self) -> sa.Row[Any] | None:
        query = (
            sa.select(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).first()

    async def _create(self) -> sa.Row[Any]:
        private = Ed25519PrivateKey.generate()
        kid = f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(6)}"
        public_jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
        public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return (
            await self.session.execute(
                sa.insert(signing_keys)
                .values(
                    kid=kid,
                    algorithm=ALGORITHM,
                    public_jwk=public_jwk,
                    private_key_encrypted=self.box.seal(pem),
                )
                .returning(signing_keys)
            )
        ).one()

    async def rotate(self) -> str:
        """A new current key; the old one is retired but still verifies."""
        await self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_KEY_LOCK)))
        await self.session.execute(
            sa.update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=sa.func.now())
        )
        return str((await self._create()).kid)

    async def remove_retired(self, older_than: timedelta) -> list[str]:
        cutoff = datetime.now(UTC) - older_than
        removed = await self.session.execute(
            sa.delete(signing_keys)
            .where(signing_keys.c.retired_at.is_not(None), signing_keys.c.retired_at <= cutoff)
            .returning(signing_keys.c.kid)
        )
        return [str(k) for k in removed.scalars()]

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        rows = (
            await self.session.execute(
                sa.select(signing_keys.c.public_jwk).order_by(signing_keys.c.created_at.desc())
            )
        ).scalars()
        return {"keys": list(rows)}

    async def sign_access_token(
        self, user_id: str, *, session_id: str, issuer: str, audience: str, ttl: int
    ) -> str:
        """`sid` names the sign-in session (the refresh-token family) the token was issued in, so
        what the token opened can be closed when that session ends."""
        kid, key = await self.current()
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": user_id,
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": ACCESS_TOKEN_TYPE})
