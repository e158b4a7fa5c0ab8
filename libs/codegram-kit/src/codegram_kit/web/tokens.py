"""Access-token verification shared by every process (RFC 8725): keys from the JWKS, strict claims."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import PyJWK
from jwt.algorithms import get_default_algorithms

from codegram_kit.runtime.settings import BaseProcessSettings
from codegram_kit.web.errors import Unauthorized

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
ACCESS_TOKEN_TYPE = "at+jwt"
TEST_KEY_ID = "codegram-test-key"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
# A verified token is trusted from memory for at most this long (and never past its expiry);
# whenever the key set changes, the memory is dropped.
VERIFIED_CACHE_SECONDS = 30.0
VERIFIED_CACHE_SIZE = 10_000
# Ours are a few hundred characters; a bound keeps a hostile one from costing more than that.
MAX_TOKEN_CHARS = 8192
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# 9999-12-31T23:59:59Z: a later "date" (1e400, 2**70) is no time a clock will reach, only noise.
_MAX_NUMERIC_DATE = 253_402_300_799
_TIME_CLAIMS = ("exp", "iat", "nbf")
_MAX_ID_CHARS = 256


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
            except (httpx.HTTPError, ValueError, TypeError, AttributeError, KeyError, jwt.PyJWTError) as exc:
                # A key set we cannot read leaves the keys as they were: tokens get 401, not 500.
                log.warning("jwks refresh failed", extra={"error": repr(exc)})

    async def verify(self, token: str) -> Principal:
        principal = self.remembered(token)
        if principal is not None:
            return principal
        now = time.monotonic()
        principal, expires_in = await self._verify(token)
        self._remember(token, principal, now + min(expires_in, VERIFIED_CACHE_SECONDS))
        return principal

    def remembered(self, token: str) -> Principal | None:
        """The principal of a token verified a moment ago (see VERIFIED_CACHE_SECONDS), or None:
        `verify` without a coroutine, for the hot path that would rather not make one."""
        cached = self._verified.get(token)
        if cached is None:
            return None
        now = time.monotonic()
        if self.jwks_url is not None and now - self._last_fetch > self.cache_seconds:
            return None  # the key set is due to be read again: verify in full
        principal, valid_until = cached
        if now < valid_until:
            return principal
        del self._verified[token]
        return None

    def _remember(self, token: str, principal: Principal, valid_until: float) -> None:
        self._verified[token] = (principal, valid_until)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)  # the oldest entry

    async def _verify(self, token: str) -> tuple[Principal, float]:
        # Every shape is checked here before the library sees the token: PyJWT turns `exp` into an
        # int (a string passes, an array or 1e400 raises TypeError/OverflowError) and assumes
        # `typ` is a string, so a crafted token would otherwise be a 500 instead of a 401.
        header, claims = _unverified(token)
        kid = header.get("kid")
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            raise Unauthorized("invalid token")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != ACCESS_TOKEN_TYPE:
            raise Unauthorized("invalid token type")
        if "crit" in header:  # RFC 7515 4.1.11: extensions we do not know make the token invalid
            raise Unauthorized("invalid token")
        _check_claim_shapes(claims)
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
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as exc:
            # The shapes were checked above; this is the net under it, still a refusal.
            raise Unauthorized("invalid token") from exc
        principal = Principal(user_id=claims["sub"], token_id=claims["jti"])
        return principal, float(claims["exp"]) - time.time()


def _segment_json(segment: str) -> dict[str, Any] | None:
    """A base64url JSON object, or None for anything else (non-UTF-8, NaN, too deep, an array)."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, refusing anything not built like one."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("malformed token")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise Unauthorized("malformed token")
    header, claims = _segment_json(parts[0]), _segment_json(parts[1])
    if header is None or claims is None:
        raise Unauthorized("malformed token")
    return header, claims


def _numeric_date(value: Any) -> bool:
    # A JSON number (RFC 7519 NumericDate), not a string, a bool, NaN or infinity.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= _MAX_NUMERIC_DATE


def _identifier(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable()


def _check_claim_shapes(claims: dict[str, Any]) -> None:
    for name in _TIME_CLAIMS:
        if name in claims and not _numeric_date(claims[name]):
            raise Unauthorized("invalid token")
    if not _identifier(claims.get("sub")) or not _identifier(claims.get("jti")):
        raise Unauthorized("invalid token")


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
