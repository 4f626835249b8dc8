"""Where a sync prepares its pages (``sync/prepare.py``): in a process pool of one worker, so that mapping
and hashing (most of a page's Python) run on another core while the sync's process fetches and writes.

The pool starts with the first prepared page and is shut down by ``close()`` (the end of a run). If its
worker dies, pages are prepared in place from then on (logged once): a sync never fails for want of a
second core.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import get_context
from typing import Any

from lmsbridge.sync.prepare import PAGE_PREPARERS

log = logging.getLogger(__name__)

# Below the API's priority: on a busy machine, reads are served first and the sync waits
NICENESS = 10


def _lower_priority() -> None:
    os.nice(NICENESS)


class PagePreparer:
    """``prepare(stream, integration_id, items)``: what the stream's page handler takes (the items
    themselves for streams that are not prepared)."""

    def __init__(self, *, use_helper: bool = True) -> None:
        self.use_helper = use_helper
        self._pool: ProcessPoolExecutor | None = None

    async def prepare(self, stream: str, integration_id: str, items: list[dict[str, Any]]) -> Any:
        prepare = PAGE_PREPARERS.get(stream)
        if prepare is None:
            return items
        work = partial(prepare, integration_id, items)
        if not self.use_helper:
            return work()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._started(), work)
        except BrokenProcessPool as exc:
            log.warning("the page-preparation process failed (%r): preparing pages in place", exc)
            self.use_helper = False
            self._shut_down()
            return work()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the sync's process has threads (the writer) and open database connections
            self._pool = ProcessPoolExecutor(1, get_context("spawn"), initializer=_lower_priority)
        return self._pool

    def _shut_down(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    async def close(self) -> None:
        """Stop the pool's worker and wait for it (off the event loop: shutting down joins a process)."""
        await asyncio.to_thread(self._shut_down)
