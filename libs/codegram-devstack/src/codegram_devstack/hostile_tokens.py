"""Crafted access tokens a hostile client might send: every one must be refused with a 401.

Two kinds: tokens that are not even built like a JWS (or carry no valid signature), and tokens
validly signed with the test key whose header or claims have odd JSON shapes, so that they pass
the signature step and reach the checks of each field.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from codegram_devstack.tokens import TestSigningKey
from codegram_kit.web.tokens import ACCESS_TOKEN_TYPE, TEST_KEY_ID

HEADER = {"alg": "EdDSA", "kid": TEST_KEY_ID, "typ": ACCESS_TOKEN_TYPE}
# Deeper than Python's JSON decoder goes, yet short enough to fit in a request header.
_DEEP = "[" * 2000 + "]" * 2000


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def sign_raw(key: TestSigningKey, header: Any, payload: Any) -> str:
    """A compact JWS over exactly these bytes (a str is taken as raw JSON text, kept verbatim)."""
    signing_input = f"{b64(_json(header))}.{b64(_json(payload))}"
    return f"{signing_input}.{b64(key.private_key.sign(signing_input.encode()))}"


def good_claims(subject: str = "hostile-user") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "codegram",
        "aud": "codegram-api",
        "sub": subject,
        "iat": now,
        "exp": now + 600,
        "jti": "hostile-jti",
    }


def _with_raw_claim(name: str, json_text: str) -> str:
    """The good claims with one of them replaced by raw JSON text (for numbers json.dumps won't write)."""
    claims = {k: v for k, v in good_claims().items() if k != name}
    return json.dumps(claims)[:-1] + f', "{name}": {json_text}}}'


def _with(**changes: Any) -> dict[str, Any]:
    return {**good_claims(), **changes}


def unsigned_garbage() -> dict[str, str]:
    """Tokens that fail before, or at, the signature step."""
    header = b64(_json(HEADER))
    claims = b64(_json(good_claims()))
    signature = b64(b"signature")
    bad_headers = {
        "header is an array": b"[1, 2]",
        "header is a number": b"1e400",
        "header is a string": b'"EdDSA"',
        "header not utf-8": b"\xff\xfe\xfd",
        "header NaN": b'{"alg": NaN}',
        "header deeply nested": _DEEP.encode(),
        "typ is a number, unsigned": b'{"alg": "EdDSA", "kid": "x", "typ": 1}',
    }
    tokens = {name: f"{b64(raw)}.{claims}.{signature}" for name, raw in bad_headers.items()}
    tokens.update(
        {
            "not a jws": "not-a-token",
            "three dots": "...",
            "base64 garbage": "!!!.???.***",
            "four parts": f"{header}.{claims}.{signature}.{signature}",
            "payload not utf-8": f"{header}.{b64(bytes([0xC3, 0x28]))}.{signature}",
            "signature of another token": f"{header}.{claims}.{b64(b'x' * 64)}",
            "non-ascii": "\u00e9.\u00fc.\u00df",
            "huge": f"{header}.{'A' * 10_000}.{signature}",
        }
    )
    return tokens


def signed_odd_claims(key: TestSigningKey) -> dict[str, str]:
    """Tokens validly signed with `key` whose header or claims are the wrong JSON shape."""
    good = good_claims()
    odd_headers: dict[str, Any] = {
        "typ is a number": {**HEADER, "typ": 1},
        "typ is null": {**HEADER, "typ": None},
        "typ is an object": {**HEADER, "typ": {"a": 1}},
        "kid is a number": {**HEADER, "kid": 7},
        "kid is an array": {**HEADER, "kid": [TEST_KEY_ID]},
        "alg is an array": {**HEADER, "alg": ["EdDSA"]},
        "alg is an object": {**HEADER, "alg": {"EdDSA": True}},
        "crit extension": {**HEADER, "crit": ["exp"]},
        "signed header array": [HEADER],
        "signed header number": 12,
    }
    odd_payloads: dict[str, Any] = {
        "exp is a string": _with(exp=str(good["exp"])),
        "exp is 1e400": _with_raw_claim("exp", "1e400"),
        "exp is -1e400": _with_raw_claim("exp", "-1e400"),
        "exp is NaN": _with_raw_claim("exp", "NaN"),
        "exp is 10**400": _with_raw_claim("exp", "1" + "0" * 400),
        "exp is 2**70": _with(exp=2**70),
        "exp is an array": _with(exp=[good["exp"]]),
        "exp is an object": _with(exp={"at": good["exp"]}),
        "exp is true": _with(exp=True),
        "iat is 1e400": _with_raw_claim("iat", "1e400"),
        "iat is an array": _with(iat=[]),
        "iat is a string": _with(iat="yesterday"),
        "nbf is 1e400": _with_raw_claim("nbf", "1e400"),
        "nbf is an object": _with(nbf={}),
        "sub is an object": _with(sub={"id": "x"}),
        "sub is a number": _with(sub=42),
        "sub is empty": _with(sub=""),
        "sub has a NUL": _with(sub="a\x00b"),
        "jti is a number": _with(jti=1),
        "jti is null": _with(jti=None),
        "aud is an object": _with(aud={"a": 1}),
        "aud is an array of numbers": _with(aud=[1, 2]),
        "iss is an array": _with(iss=["codegram"]),
        "claims nested deep": _with_raw_claim("sub", _DEEP),
        "claims are an array": [good],
        "claims are a string": '"hello"',
    }
    tokens = {name: sign_raw(key, header, good) for name, header in odd_headers.items()}
    tokens.update({name: sign_raw(key, HEADER, payload) for name, payload in odd_payloads.items()})
    return tokens


def hostile_tokens(key: TestSigningKey) -> dict[str, str]:
    return {**unsigned_garbage(), **signed_odd_claims(key)}
