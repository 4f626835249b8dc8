"""Waiting for a condition in tests: poll with a deadline, never a fixed sleep as synchronisation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    *,
    within: float = 30.0,
    what: str = "",
) -> T:
    """Poll ``check`` until it returns something truthy (never a fixed sleep as synchronisation)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


def wait_until(condition: Callable[[], object], *, timeout: float = 60.0, what: str = "") -> None:
    """``eventually`` for plain (non-async) tests and conditions."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)
