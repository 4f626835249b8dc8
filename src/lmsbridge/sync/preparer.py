"""Where a sync prepares its pages (``sync/prepare.py``): in a helper process of its own, so that mapping
and hashing (most of a page's Python) run on another core while the sync's process fetches and writes.

One helper per preparer, started at the first large page and stopped by ``close()`` (the end of a run).
Every stream's large pages go to it, with the run's memory in their context where the stream's mapping
reads it. Small pages are prepared in place: a round trip costs more than they do. If the helper dies,
pages are prepared in place from then on (logged once): a sync never fails for want of a second core.

Kept, not replaced by ``concurrent.futures.ProcessPoolExecutor`` or in-place mapping: side by side, the
pool cost a quarter more CPU per record and mapping in place doubled figure 3's wall (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
from functools import partial
from typing import Any

from lmsbridge.connectors.base import MapContext, Stream
from lmsbridge.sync import prepare_worker
from lmsbridge.sync.prepare import prepare_page
from lmsbridge.sync.prepare_worker import HEADER, frame

log = logging.getLogger(__name__)

# pages with fewer items are prepared in the sync's process
MIN_ITEMS_FOR_HELPER = 100


class PagePreparer:
    """``prepare(stream, integration_id, items, ctx)``: a page's rows by model (``sync/pages.py``)."""

    def __init__(self, *, use_helper: bool = True) -> None:
        self.use_helper = use_helper
        self._helper: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def prepare(
        self, stream: Stream, integration_id: str, items: list[dict[str, Any]], ctx: MapContext
    ) -> Any:
        in_place = partial(prepare_page, stream.map_page, integration_id, items, ctx)
        if not self.use_helper or len(items) < MIN_ITEMS_FOR_HELPER:
            return in_place()
        request = (stream.map_page, integration_id, items, ctx)
        try:
            payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            return in_place()  # a mapping function or memory the helper cannot receive
        async with self._lock:
            try:
                answer = await self._round_trip(payload)
            except (OSError, EOFError, asyncio.IncompleteReadError) as exc:
                await self._give_up(exc)
                return in_place()
            except asyncio.CancelledError:
                # its answer would be read as the next request's: the next request starts a new helper
                self._kill()
                raise
        ok, value = pickle.loads(answer)
        if not ok:
            raise value
        return value

    async def _round_trip(self, request: bytes) -> bytes:
        helper = await self._started()
        assert helper.stdin is not None and helper.stdout is not None
        helper.stdin.write(frame(request))
        await helper.stdin.drain()
        (size,) = HEADER.unpack(await helper.stdout.readexactly(HEADER.size))
        return await helper.stdout.readexactly(size)

    async def _started(self) -> asyncio.subprocess.Process:
        if self._helper is None:
            self._helper = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                prepare_worker.__name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        return self._helper

    async def _give_up(self, cause: BaseException) -> None:
        code = self._helper.returncode if self._helper is not None else None
        log.warning(
            "the page-preparation process failed (%r, exit code %s): preparing pages in place", cause, code
        )
        self.use_helper = False
        await self._stop()

    def _kill(self) -> None:
        helper, self._helper = self._helper, None
        if helper is not None and helper.returncode is None:
            helper.kill()

    async def close(self) -> None:
        """Stop the helper (it exits when its input closes) and wait for it."""
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        helper, self._helper = self._helper, None
        if helper is None:
            return
        if helper.stdin is not None:
            helper.stdin.close()
        try:
            await asyncio.wait_for(helper.wait(), timeout=10)
        except TimeoutError:
            helper.kill()
            await helper.wait()
