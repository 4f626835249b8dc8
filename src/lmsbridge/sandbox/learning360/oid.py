"""Deterministic MongoDB-style ObjectIds: 4-byte creation time, 5-byte per-kind salt, 3-byte counter.

Ids made by one `IdFactory` sort in creation order, which is the order every list endpoint serves.
"""

from __future__ import annotations

import hashlib
import re

OBJECT_ID_RE = re.compile(r"^[a-fA-F0-9]{24}$")


def is_object_id(value: str) -> bool:
    return bool(OBJECT_ID_RE.match(value))


def salt(seed: int, kind: str) -> str:
    """Ten hex digits that differ per (seed, kind), so ids of different collections never collide."""
    return hashlib.sha256(f"{seed}:{kind}".encode()).hexdigest()[:10]


def make_id(seconds: int, salt_hex: str, counter: int) -> str:
    return f"{seconds & 0xFFFFFFFF:08x}{salt_hex}{counter & 0xFFFFFF:06x}"


class IdFactory:
    """Issues ids whose timestamps never go backwards, so they stay sorted even if the clock does."""

    def __init__(self, seed: int, kind: str) -> None:
        self.salt = salt(seed, kind)
        self.counter = 0
        self.last_seconds = 0

    def next(self, seconds: int) -> str:
        self.last_seconds = max(self.last_seconds, seconds)
        value = make_id(self.last_seconds, self.salt, self.counter)
        self.counter += 1
        return value
