"""Kombo-style ids: 24-char Base58, deterministic for records, random for runs, tasks and events."""

from __future__ import annotations

import hashlib
import secrets

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 24
_SPACE = 58**ID_LENGTH


def _encode(number: int) -> str:
    chars = []
    for _ in range(ID_LENGTH):
        number, rest = divmod(number, 58)
        chars.append(BASE58_ALPHABET[rest])
    return "".join(reversed(chars))


def record_id(integration_id: str, model: str, remote_id: str) -> str:
    """The stable id of a record: the same inputs give the same id on every sync and rebuild."""
    digest = hashlib.sha256("\x1f".join((integration_id, model, remote_id)).encode()).digest()
    return _encode(int.from_bytes(digest, "big") % _SPACE)


def random_id() -> str:
    """A fresh id for sync runs, tasks, log entries and webhook events."""
    return _encode(secrets.randbelow(_SPACE))


def new_integration_id(tool: str) -> str:
    return f"{tool}:{random_id()}"


def is_base58_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in BASE58_ALPHABET for c in value)
