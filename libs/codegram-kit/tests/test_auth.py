"""Access-token verification refuses everything but a well-formed, correctly signed access token."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from codegram_devstack.tokens import TestSigningKey
from codegram_kit.auth import TEST_KEY_ID, TokenVerifier
from codegram_kit.errors import Unauthorized
from codegram_kit.settings import BaseProcessSettings

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


FORGED = {
    "alg none": lambda: f"{_b64({'alg': 'none', 'kid': TEST_KEY_ID, 'typ': 'at+jwt'})}."
    f"{_b64({'sub': 'x', 'exp': time.time() + 60})}.",
    "HS256 with the public key": lambda: jwt.encode(
        {"sub": "x", "iss": "codegram", "aud": "codegram-api", "exp": int(time.time()) + 60},
        KEY.public_pem.encode().hex(),
        algorithm="HS256",
        headers={"kid": TEST_KEY_ID, "typ": "at+jwt"},
    ),
    "tampered payload": _tampered,
    "expired": lambda: KEY.mint("x", ttl=-120),
    "wrong audience": lambda: KEY.mint("x", audience="someone-else"),
    "wrong issuer": lambda: KEY.mint("x", issuer="evil"),
    "other key": lambda: OTHER.mint("x"),
    "missing exp": lambda: jwt.encode(
        {"sub": "x", "iss": "codegram", "aud": "codegram-api", "iat": int(time.time()), "jti": "j"},
        KEY.private_key,
        algorithm="EdDSA",
        headers={"kid": TEST_KEY_ID, "typ": "at+jwt"},
    ),
    "wrong typ": lambda: jwt.encode(
        {
            "sub": "x",
            "iss": "codegram",
            "aud": "codegram-api",
            "iat": 1,
            "exp": int(time.time()) + 60,
            "jti": "j",
        },
        KEY.private_key,
        algorithm="EdDSA",
        headers={"kid": TEST_KEY_ID, "typ": "JWT"},
    ),
    "injected kid": lambda: jwt.encode(
        {
            "sub": "x",
            "iss": "codegram",
            "aud": "codegram-api",
            "iat": 1,
            "exp": int(time.time()) + 60,
            "jti": "j",
        },
        KEY.private_key,
        algorithm="EdDSA",
        headers={"kid": "../../dev/null", "typ": "at+jwt"},
    ),
    "garbage": lambda: "not.a.token",
}


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_forged_tokens_are_refused(name: str) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(FORGED[name]())


def test_the_test_key_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="JWT_TEST_PUBLIC_KEY"):
        BaseProcessSettings(environment="production", jwt_test_public_key=KEY.public_pem)
