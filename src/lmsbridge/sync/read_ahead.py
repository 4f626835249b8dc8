"""A chain's next page is fetched while its current page is prepared and written.

A chain is sequential (each page names the next), so without this a chain waited one round trip per
page on top of its page's work: at a hosted LMS's latency (~200 ms) ten chains kept the rate limit's
budget only half used. The state a resumed run starts from is still set by the write (the prefetched
page is simply fetched again after a crash), and an error fetching the next page surfaces only once the
current page is handled, in the order it would have without reading ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(source: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """``source``'s items, the next one already being fetched while the caller handles one. Stopping
    early (break, an exception, cancellation) cancels that fetch and closes ``source``."""
    pending: asyncio.Future[T] = asyncio.ensure_future(anext(source))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(source))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
        # the fetch's own outcome no longer matters (the caller stopped); it must not be left unretrieved
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await pending
        await source.aclose()
