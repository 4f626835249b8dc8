"""Secrets at rest: Fernet encryption with a key from settings or generated once into the data dir."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from lmsbridge.settings import Settings

KEY_FILE_NAME = "secret.key"


class SecretBoxError(Exception):
    """A stored secret could not be decrypted (wrong or rotated key)."""


def load_or_create_key(settings: Settings) -> bytes:
    if settings.encryption_key:
        return settings.encryption_key.encode()
    path = settings.data_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    _write_private(path, key)
    return key


def _write_private(path: Path, content: bytes) -> None:
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


class SecretBox:
    """Encrypts and decrypts small secrets (credentials, webhook secrets)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(load_or_create_key(settings))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("stored secret cannot be decrypted with the configured key") from exc


def hash_api_key(api_key: str) -> str:
    """API keys are stored only as this hash; they are long random strings, so plain SHA-256 suffices."""
    return hashlib.sha256(api_key.encode()).hexdigest()
