"""Secrets at rest rotate cleanly, and production refuses development secrets."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken

from codegram_auth.config import AuthSettings
from codegram_auth.crypto import SecretBox


def test_new_key_first_keeps_old_ciphertexts_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = SecretBox(old).seal(b"gho_secret")
    rotated = SecretBox(f"{new},{old}")
    assert rotated.open(sealed_with_old) == b"gho_secret"
    assert SecretBox(new).open(rotated.seal(b"x")) == b"x"  # new writes use the new key
    with pytest.raises(InvalidToken):
        SecretBox(new).open(sealed_with_old)


def test_no_key_is_an_error() -> None:
    with pytest.raises(ValueError):
        SecretBox(" , ")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"github_client_secret": "real", "redis_url": "redis://r"}, "AUTH_ENCRYPTION_KEYS"),
        (
            {"auth_encryption_keys": Fernet.generate_key().decode(), "redis_url": "redis://r"},
            "GITHUB_CLIENT_SECRET",
        ),
    ],
)
def test_production_refuses_development_secrets(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuthSettings(environment="production", **overrides)


def test_production_with_real_secrets_starts() -> None:
    settings = AuthSettings(
        environment="production",
        github_client_secret="real",
        auth_encryption_keys=Fernet.generate_key().decode(),
        redis_url="redis://r",
        auth_redirect_uris=" https://a.example/cb ,https://b.example/cb",
    )
    assert settings.redirect_uris == {"https://a.example/cb", "https://b.example/cb"}
