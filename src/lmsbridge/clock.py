"""The wall clock, as an aware UTC datetime (the store refuses naive ones); components take a ``clock``
parameter defaulting to this, so tests can move time instead of waiting."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
