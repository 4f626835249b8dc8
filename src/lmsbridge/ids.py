"""Kombo-style ids: 24-char Base58, deterministic for records, random for runs, tasks and events."""

from __future__ import annotations

import hashlib
import secrets

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 24


def record_id(integration_id: str, model: str, remote_id: str) -> str:
    """The stable id of a record: the same inputs give the same id on every sync and rebuild.

    Each of the first 24 bytes of a SHA-256 picks a character (byte mod 58): the encoding stored ids
    were made with, so it cannot change without renumbering every stored record."""
    digest = hashlib.sha256("\x1f".join((integration_id, model, remote_id)).encode()).digest()
    return "".join(BASE58_ALPHABET[byte % 58] for byte in digest[:ID_LENGTH])


def random_id() -> str:
    """A fresh id for sync runs, tasks, log entries and webhook events: uniform over the alphabet."""
    return "".join(secrets.choice(BASE58_ALPHABET) for _ in range(ID_LENGTH))


def new_integration_id(tool: str) -> str:
    return f"{tool}:{random_id()}"


def is_base58_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in BASE58_ALPHABET for c in value)
