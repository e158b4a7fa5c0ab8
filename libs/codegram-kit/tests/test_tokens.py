"""Access-token verification refuses everything but a well-formed, correctly signed access token."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from codegram_devstack.hostile_tokens import hostile_tokens, signed_odd_claims
from codegram_devstack.tokens import TestSigningKey
from codegram_kit.runtime.settings import BaseProcessSettings
from codegram_kit.web.errors import Unauthorized
from codegram_kit.web.tokens import TEST_KEY_ID, TokenVerifier

KEY = TestSigningKey.generate()
OTHER = TestSigningKey.generate()


def verifier() -> TokenVerifier:
    return TokenVerifier.from_settings(BaseProcessSettings(jwt_test_public_key=KEY.public_pem))


async def test_a_valid_token_names_its_user() -> None:
    principal = await verifier().verify(KEY.mint("user-1"))
    assert principal.user_id == "user-1"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _tampered() -> str:
    header, payload, signature = KEY.mint("user-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "==="))
    claims["sub"] = "admin"
    return f"{header}.{_b64(claims)}.{signature}"


def _claims(**changes: object) -> dict:
    now = int(time.time())
    claims: dict = {
        "sub": "x",
        "iss": "codegram",
        "aud": "codegram-api",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict, **header: str) -> str:
    return jwt.encode(
        claims, KEY.private_key, algorithm="EdDSA", headers={"kid": TEST_KEY_ID, "typ": "at+jwt", **header}
    )


FORGED = {
    "alg none": lambda: f"{_b64({'alg': 'none', 'kid': TEST_KEY_ID, 'typ': 'at+jwt'})}.{_b64(_claims())}.",
    "HS256 with the public key": lambda: _hs256_with_public_key(),
    "tampered payload": _tampered,
    "expired": lambda: KEY.mint("x", ttl=-120),
    "wrong audience": lambda: KEY.mint("x", audience="someone-else"),
    "wrong issuer": lambda: KEY.mint("x", issuer="evil"),
    "other key": lambda: OTHER.mint("x"),
    "missing exp": lambda: _signed(_claims(exp=None)),
    "missing sub": lambda: _signed(_claims(sub=None)),
    "wrong typ": lambda: _signed(_claims(), typ="JWT"),
    "injected kid": lambda: _signed(_claims(), kid="../../dev/null"),
    "garbage": lambda: "not.a.token",
}


def _hs256_with_public_key() -> str:
    # pyjwt refuses to HMAC with a PEM key, so build the token by hand as an attacker would.
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'kid': TEST_KEY_ID, 'typ': 'at+jwt'})}.{_b64(_claims())}"
    digest = hmac.new(KEY.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_forged_tokens_are_refused(name: str) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(FORGED[name]())


def test_the_test_key_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="JWT_TEST_PUBLIC_KEY"):
        BaseProcessSettings(environment="production", jwt_test_public_key=KEY.public_pem)


async def test_a_remembered_token_still_expires_on_time() -> None:
    strict = TokenVerifier.from_settings(
        BaseProcessSettings(jwt_test_public_key=KEY.public_pem, jwt_leeway_seconds=0)
    )
    token = KEY.mint("user-1", ttl=1)
    assert strict.remembered(token) is None  # not verified yet
    assert (await strict.verify(token)).user_id == "user-1"
    assert (await strict.verify(token)).user_id == "user-1"  # from memory
    remembered = strict.remembered(token)
    assert remembered is not None and remembered.user_id == "user-1"
    await asyncio.sleep(1.1)
    assert strict.remembered(token) is None
    with pytest.raises(Unauthorized):
        await strict.verify(token)


async def test_a_refused_token_is_not_remembered() -> None:
    v = verifier()
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await v.verify(_tampered())
        assert v.remembered(_tampered()) is None


HOSTILE = hostile_tokens(KEY)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_every_json_shape_of_a_crafted_token_is_a_refusal(name: str) -> None:
    # Unauthorized and nothing else: any other exception would be a 500 at the edge and in services.
    with pytest.raises(Unauthorized):
        await verifier().verify(HOSTILE[name])


def test_the_crafted_tokens_really_are_signed_with_the_key() -> None:
    # Else the odd claims would be refused for their signature, not for their shape.
    public = KEY.private_key.public_key()
    for token in signed_odd_claims(KEY).values():
        signing_input, _, signature = token.rpartition(".")
        public.verify(base64.urlsafe_b64decode(signature + "=="), signing_input.encode())  # raises if not


async def test_a_well_formed_token_with_fractional_times_is_accepted() -> None:
    # RFC 7519's NumericDate may be a non-integer: strict shapes must not refuse valid tokens.
    now = time.time()
    token = _signed(_claims(iat=now, exp=now + 60, nbf=now - 1))
    assert (await verifier().verify(token)).user_id == "x"
