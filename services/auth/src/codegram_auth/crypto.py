"""Encryption at rest for private signing keys and GitHub tokens (Fernet, rotatable keys)."""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet


class SecretBox:
    """Encrypts with the first configured key and decrypts with any, so keys can rotate."""

    def __init__(self, keys: str) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        if not fernets:
            raise ValueError("no encryption key configured")
        self._box = MultiFernet(fernets)

    def seal(self, plaintext: bytes) -> bytes:
        return self._box.encrypt(plaintext)

    def open(self, ciphertext: bytes) -> bytes:
        return self._box.decrypt(ciphertext)
