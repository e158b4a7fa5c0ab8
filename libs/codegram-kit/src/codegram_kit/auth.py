"""Access-token verification shared by every process (RFC 8725): keys from the JWKS, strict claims."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from jwt import PyJWK
from jwt.algorithms import get_default_algorithms
from starlette.requests import HTTPConnection

from codegram_kit.errors import Unauthorized
from codegram_kit.settings import BaseProcessSettings

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
ACCESS_TOKEN_TYPE = "at+jwt"
TEST_KEY_ID = "codegram-test-key"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
# A verified token is trusted from memory for at most this long (and never past its expiry);
# whenever the key set changes, the memory is dropped.
VERIFIED_CACHE_SECONDS = 30.0
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    token_id: str


class TokenVerifier:
    """Verifies access tokens against parsed public keys, refetching the JWKS on an unknown kid."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        static_keys: dict[str, Any] | None = None,
        leeway: int = 30,
        refresh_interval: float = 5.0,
        cache_seconds: float = 300.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.leeway = leeway
        self.refresh_interval = refresh_interval
        self.cache_seconds = cache_seconds
        self._static = dict(static_keys or {})
        self._keys: dict[str, Any] = dict(self._static)
        self._last_fetch = 0.0
        self._lock = asyncio.Lock()
        # Verified tokens, so a client's every request does not pay for a signature check again:
        # token -> (principal, monotonic time until which it may be served from here).
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: BaseProcessSettings) -> TokenVerifier:
        static: dict[str, Any] = {}
        if settings.jwt_test_public_key and not settings.is_production:
            static[TEST_KEY_ID] = jwt.algorithms.OKPAlgorithm.from_jwk(
                _pem_to_jwk(settings.jwt_test_public_key)
            )
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks_url=settings.jwks_url,
            static_keys=static,
            leeway=settings.jwt_leeway_seconds,
            refresh_interval=settings.jwks_min_refresh_seconds,
            cache_seconds=settings.jwks_cache_seconds,
        )

    async def _refresh(self) -> None:
        if not self.jwks_url:
            return
        async with self._lock:
            if time.monotonic() - self._last_fetch < self.refresh_interval:
                return
            self._last_fetch = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=3.0) as client:
                    resp = await client.get(self.jwks_url)
                    resp.raise_for_status()
                    keys: dict[str, Any] = dict(self._static)
                    for jwk in resp.json().get("keys", []):
                        if jwk.get("kid") and jwk.get("alg") in ALLOWED_ALGORITHMS:
                            keys[jwk["kid"]] = PyJWK(jwk).key
                    if keys.keys() != self._keys.keys():
                        self._verified.clear()  # a removed key must stop verifying at once
                    self._keys = keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                log.warning("jwks refresh failed", extra={"error": repr(exc)})

    async def verify(self, token: str) -> Principal:
        now = time.monotonic()
        stale = self.jwks_url is not None and now - self._last_fetch > self.cache_seconds
        cached = self._verified.get(token)
        if cached is not None and not stale:
            principal, valid_until = cached
            if now < valid_until:
                return principal
            del self._verified[token]
        principal, expires_in = await self._verify(token)
        self._remember(token, principal, now + min(expires_in, VERIFIED_CACHE_SECONDS))
        return principal

    def _remember(self, token: str, principal: Principal, valid_until: float) -> None:
        self._verified[token] = (principal, valid_until)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)  # the oldest entry

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        kid = header.get("kid")
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            raise Unauthorized("invalid token")
        if header.get("typ", "").lower() != ACCESS_TOKEN_TYPE:
            raise Unauthorized("invalid token type")
        stale = self.jwks_url is not None and time.monotonic() - self._last_fetch > self.cache_seconds
        if stale or kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("invalid token")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        principal = Principal(user_id=str(claims["sub"]), token_id=str(claims["jti"]))
        return principal, float(claims["exp"]) - time.time()


def _pem_to_jwk(pem: str) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    algo = get_default_algorithms()["EdDSA"]
    return algo.to_jwk(load_pem_public_key(pem.encode()))  # type: ignore[arg-type]


def parse_bearer(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None for anything else."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_token(connection: HTTPConnection) -> str | None:
    return parse_bearer(connection.headers.get("authorization", ""))


async def optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        if request.headers.get("authorization"):
            raise Unauthorized("malformed authorization header")
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
