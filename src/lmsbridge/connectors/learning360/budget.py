"""The 360Learning API budget: one rate limiter per company, shared by everything in the process.

360Learning allows 50 reads/s and 10 writes/s per company and answers 429 without Retry-After, so
the cheapest protection is never to exceed the rate: every call of a sync, an action or a passthrough
for the same company acquires from the same ``ApiBudget`` (found through ``BudgetRegistry``).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass
from typing import Literal

from aiolimiter import AsyncLimiter

CallKind = Literal["read", "write"]

DEFAULT_READS_PER_SECOND = 45.0
DEFAULT_WRITES_PER_SECOND = 9.0
# Burst allowance, as a fraction of one second of rate: a leaky bucket of capacity `rate` would let
# 2x the rate through in the first second; capacity rate*0.1 keeps any 1 s window under rate*1.1.
DEFAULT_BURST_SECONDS = 0.1


@dataclass(slots=True)
class BudgetCounters:
    """What the budget saw (process lifetime): calls, how often a caller had to wait, 429s."""

    reads: int = 0
    writes: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    throttled: int = 0

    @property
    def calls(self) -> int:
        return self.reads + self.writes


class _Bucket:
    """One leaky bucket. aiolimiter binds to an event loop, so keep one limiter per running loop."""

    def __init__(self, rate: float, burst_seconds: float) -> None:
        self.rate = rate
        # aiolimiter needs room for one acquisition (amount 1), hence the floor of 1
        self.capacity = max(1.0, rate * burst_seconds)
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self) -> AsyncLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = AsyncLimiter(self.capacity, self.capacity / self.rate)
            self._limiters[loop] = limiter
        return limiter


class ApiBudget:
    """Read and write rate limits of one 360Learning company, with counters.

    All callers on one event loop share the rate exactly. A process normally runs one loop (the API
    server, the in-process job runner); a second loop in another thread gets its own buckets.
    """

    def __init__(
        self,
        key: str,
        reads_per_second: float = DEFAULT_READS_PER_SECOND,
        writes_per_second: float = DEFAULT_WRITES_PER_SECOND,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
    ) -> None:
        if reads_per_second <= 0 or writes_per_second <= 0:
            raise ValueError("rates must be positive")
        self.key = key
        self.reads_per_second = reads_per_second
        self.writes_per_second = writes_per_second
        self.counters = BudgetCounters()
        self._buckets: dict[CallKind, _Bucket] = {
            "read": _Bucket(reads_per_second, burst_seconds),
            "write": _Bucket(writes_per_second, burst_seconds),
        }

    async def acquire(self, kind: CallKind) -> None:
        """Wait until one call of ``kind`` fits in the rate, then count it."""
        limiter = self._buckets[kind].limiter()
        if limiter.has_capacity():
            await limiter.acquire()
        else:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await limiter.acquire()
            self.counters.waits += 1
            self.counters.wait_seconds += loop.time() - started
        if kind == "read":
            self.counters.reads += 1
        else:
            self.counters.writes += 1

    def record_throttled(self) -> None:
        """The company answered 429: someone (maybe another integration of the tenant) used the budget."""
        self.counters.throttled += 1

    def __repr__(self) -> str:
        return (
            f"ApiBudget(reads/s={self.reads_per_second}, writes/s={self.writes_per_second}, "
            f"counters={self.counters})"
        )


class BudgetRegistry:
    """Process-wide map company key → ``ApiBudget``; the first caller's rates win for a key."""

    def __init__(self) -> None:
        self._budgets: dict[str, ApiBudget] = {}
        self._lock = threading.Lock()

    def get(
        self,
        key: str,
        *,
        reads_per_second: float = DEFAULT_READS_PER_SECOND,
        writes_per_second: float = DEFAULT_WRITES_PER_SECOND,
    ) -> ApiBudget:
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                budget = ApiBudget(key, reads_per_second, writes_per_second)
                self._budgets[key] = budget
            return budget

    def drop(self, key: str) -> None:
        """Forget a company's budget (its integration was deleted)."""
        with self._lock:
            self._budgets.pop(key, None)


# The process-wide registry every connector instance uses unless given another one.
BUDGETS = BudgetRegistry()
