"""An LMS API budget (airbyte's ``APIBudget`` idea): one request schedule per company (a tenant's rate
limit), shared by every caller that talks to it; any connector may use it.

An LMS that limits reads and writes per company and answers 429 without Retry-After (the shipped
connector's allows 50 reads/s and 10 writes/s) is best protected by never exceeding the rate: every
call of a sync, an action, a passthrough or a scope test for a company reserves a slot from that
company's ``ApiBudget`` first.

The budget is a GCRA schedule (generic cell rate algorithm): each call reserves the next free slot and
waits until it comes. Its state is one number per company and kind (the next slot) plus a slowdown
factor, kept by a ``RateSchedule``: in the process (``LocalRateSchedule``, the SQLite default) or in
PostgreSQL (``lmsbridge.shared_budgets``), where every process and machine of a deployment reserves
from the same row. Sustained 429s stretch the schedule (another client of the tenant uses its budget)
and it recovers call by call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from lmsbridge import metrics

CallKind = Literal["read", "write"]

DEFAULT_READS_PER_SECOND = 45.0
DEFAULT_WRITES_PER_SECOND = 9.0
# How far a quiet budget may run ahead of its rate: a burst of rate * 0.1 calls, so any 1 s window
# holds at most rate * 1.1 calls (49.5 reads at 45/s, under a 50/s limit).
DEFAULT_BURST_SECONDS = 0.1
# A 429 doubles the interval between calls (up to 16x); every call then shrinks it by 3 %.
SLOWDOWN_FACTOR = 2.0
MAX_SLOWDOWN = 16.0
RECOVERY_PER_CALL = 0.97


class RateSchedule(Protocol):
    """Where budgets keep their state. ``reserve`` books the next slot of ``key`` and returns how many
    seconds the caller waits for it; ``slow_down`` stretches the key's interval after a 429."""

    async def reserve(self, key: str, interval: float, burst: float) -> float: ...

    async def slow_down(self, key: str) -> None: ...


def next_slot(
    tat: float, slowdown: float, now: float, interval: float, burst: float
) -> tuple[float, float, float]:
    """One GCRA reservation: (wait, new next-slot time, new slowdown) — the one rule both schedules apply."""
    start = max(tat, now - burst)
    return max(0.0, start - now), start + interval * slowdown, max(1.0, slowdown * RECOVERY_PER_CALL)


class LocalRateSchedule:
    """The schedule of one process (threads included): enough where one process talks to the LMS."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def reserve(self, key: str, interval: float, burst: float) -> float:
        now = time.monotonic()
        with self._lock:
            tat, slowdown = self._state.get(key, (now, 1.0))
            wait, tat, slowdown = next_slot(tat, slowdown, now, interval, burst)
            self._state[key] = (tat, slowdown)
        return wait

    async def slow_down(self, key: str) -> None:
        with self._lock:
            tat, slowdown = self._state.get(key, (time.monotonic(), 1.0))
            self._state[key] = (tat, min(MAX_SLOWDOWN, slowdown * SLOWDOWN_FACTOR))


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


class ApiBudget:
    """Read and write rate limits of one LMS company (tenant), with this process's counters."""

    def __init__(
        self,
        key: str,
        reads_per_second: float = DEFAULT_READS_PER_SECOND,
        writes_per_second: float = DEFAULT_WRITES_PER_SECOND,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
        schedule: RateSchedule | None = None,
    ) -> None:
        if reads_per_second <= 0 or writes_per_second <= 0:
            raise ValueError("rates must be positive")
        self.key = key
        self.reads_per_second = reads_per_second
        self.writes_per_second = writes_per_second
        self.burst_seconds = burst_seconds
        self.schedule: RateSchedule = schedule or LocalRateSchedule()
        self.counters = BudgetCounters()

    def _slot_key(self, kind: CallKind) -> str:
        return f"{self.key}|{kind}"

    async def acquire(self, kind: CallKind) -> None:
        """Wait until one call of ``kind`` fits in the company's rate, then count it."""
        rate = self.reads_per_second if kind == "read" else self.writes_per_second
        wait = await self.schedule.reserve(self._slot_key(kind), 1.0 / rate, self.burst_seconds)
        if wait > 0:
            self.counters.waits += 1
            self.counters.wait_seconds += wait
            metrics.RATE_BUDGET_WAIT.labels(kind=kind).observe(wait)
            await asyncio.sleep(wait)
        if kind == "read":
            self.counters.reads += 1
        else:
            self.counters.writes += 1

    async def throttled(self, kind: CallKind) -> None:
        """The company answered 429: someone (maybe another client of the tenant) used the budget."""
        self.counters.throttled += 1
        await self.schedule.slow_down(self._slot_key(kind))

    def __repr__(self) -> str:
        return (
            f"ApiBudget(reads/s={self.reads_per_second}, writes/s={self.writes_per_second}, "
            f"counters={self.counters})"
        )


class BudgetRegistry:
    """Process-wide map company key → ``ApiBudget``; the first caller's rates win for a key (a caller that
    names none gets ``default_rates``). All budgets keep their state in one ``RateSchedule``: the
    process's own until ``share_through`` gives another."""

    def __init__(self) -> None:
        self._budgets: dict[str, ApiBudget] = {}
        self._lock = threading.Lock()
        self.schedule: RateSchedule = LocalRateSchedule()
        # (reads, writes) per second of a budget whose first caller names no rates
        self.default_rates: tuple[float, float] = (DEFAULT_READS_PER_SECOND, DEFAULT_WRITES_PER_SECOND)

    def share_through(self, schedule: RateSchedule) -> None:
        """From now on, every budget reserves through ``schedule`` (a deployment-wide one)."""
        with self._lock:
            self.schedule = schedule
            for budget in self._budgets.values():
                budget.schedule = schedule

    def stop_sharing(self, schedule: RateSchedule) -> None:
        """Back to a schedule of the process's own, if ``schedule`` is still the one in use."""
        if self.schedule is schedule:
            self.share_through(LocalRateSchedule())

    def get(
        self, key: str, *, reads_per_second: float | None = None, writes_per_second: float | None = None
    ) -> ApiBudget:
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                reads, writes = self.default_rates
                if reads_per_second is not None:
                    reads = reads_per_second
                if writes_per_second is not None:
                    writes = writes_per_second
                budget = ApiBudget(key, reads, writes, schedule=self.schedule)
                self._budgets[key] = budget
            return budget

    def drop(self, key: str) -> None:
        """Forget a company's budget (its integration was deleted)."""
        with self._lock:
            self._budgets.pop(key, None)


# The process-wide registry every connector instance uses unless given another one.
BUDGETS = BudgetRegistry()
