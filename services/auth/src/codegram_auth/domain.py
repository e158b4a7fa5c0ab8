"""Auth's rules with no I/O: signing keys and access tokens, refresh tokens and how a spend turns out."""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from codegram_clients.users import UserRead
from codegram_kit.web.tokens import ACCESS_TOKEN_TYPE

ALGORITHM = "EdDSA"


# -- signing keys and access tokens --------------------------------------------------------------
@dataclass(frozen=True)
class NewSigningKey:
    """A freshly made key: its public half as a JWK, its private half as PEM (to be sealed)."""

    kid: str
    public_jwk: dict[str, Any]
    private_pem: bytes


@dataclass(frozen=True)
class StoredSigningKey:
    kid: str
    private_key_sealed: bytes


def new_signing_key() -> NewSigningKey:
    private = Ed25519PrivateKey.generate()
    kid = f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(6)}"
    public_jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return NewSigningKey(kid, public_jwk, pem)


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def sign_access_token(
    key: Ed25519PrivateKey, kid: str, user_id: str, *, session_id: str, issuer: str, audience: str, ttl: int
) -> str:
    """`sid` names the sign-in session (the refresh-token family) the token was issued in, so
    what the token opened can be closed when that session ends."""
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


# -- refresh tokens ------------------------------------------------------------------------------
# Opaque, stored hashed, in families (one per sign-in session) that rotate on use and die on reuse.
def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class StoredRefreshToken:
    id: UUID
    family_id: UUID
    user_id: UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class Spend(enum.Enum):
    """What presenting a stored refresh token amounts to."""

    INVALID = "invalid"  # unknown, revoked or expired: nothing happens
    REUSED = "reused"  # already spent: someone holds a copy, so the whole family is revoked
    FRESH = "fresh"  # spent now for a new token in the same family


def spend_of(token: StoredRefreshToken | None, now: datetime) -> Spend:
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return Spend.INVALID
    if token.used_at is not None:
        return Spend.REUSED
    return Spend.FRESH


# -- what the doors answer -----------------------------------------------------------------------
@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    # The signed-in user as the users service described them (only on sign-in).
    user: UserRead | None = None
