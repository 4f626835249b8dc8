"""The worker threads of read requests: one hop per request, a few threads per process.

A list request's work (open a read transaction, load the integration, run the page query, render) is
Python and SQLite under one GIL: more threads than that work can use only time-slice it, so 16
concurrent requests each took 16 times as long and the unlucky ones much longer. A small pool keeps
the others queued in arrival order instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class ReadPool:
    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("a read pool needs at least one thread")
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made on the event loop, at first use

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` in a worker thread, once one of the pool's threads is free."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)
