"""Kombo-style ids: 24-char Base58, deterministic for records, random for runs, tasks and events."""

from __future__ import annotations

import hashlib
import secrets

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 24
# byte → Base58 character, applied in C by bytes.translate: ids are made on the ingest hot path (one
# per record and per reference). 256 = 4·58 + 24, so the first 24 characters are slightly likelier
# (5/256 vs 4/256): ≈ 140 bits per id, as unique as a uniform encoding for any practical purpose.
_TO_BASE58 = bytes(ord(BASE58_ALPHABET[b % 58]) for b in range(256))


def _encode(raw: bytes) -> str:
    return raw[:ID_LENGTH].translate(_TO_BASE58).decode("ascii")


def record_id(integration_id: str, model: str, remote_id: str) -> str:
    """The stable id of a record: the same inputs give the same id on every sync and rebuild."""
    return _encode(hashlib.sha256("\x1f".join((integration_id, model, remote_id)).encode()).digest())


def random_id() -> str:
    """A fresh id for sync runs, tasks, log entries and webhook events."""
    return _encode(secrets.token_bytes(ID_LENGTH))


def new_integration_id(tool: str) -> str:
    return f"{tool}:{random_id()}"


def is_base58_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in BASE58_ALPHABET for c in value)
