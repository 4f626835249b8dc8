"""A chain's next page is fetched while the current one is handled (``sync/read_ahead.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import pytest

from lmsbridge.sync.read_ahead import read_ahead


class Source:
    """Pages 1..n; each fetch is recorded and waits until the test lets it finish."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages, self.fail_at = pages, fail_at
        self.started: list[int] = []
        self.fetch_started = asyncio.Event()
        self.closed = False
        self.cancelled = False

    async def generate(self) -> AsyncGenerator[int, None]:
        try:
            for n in range(1, self.pages + 1):
                self.started.append(n)
                self.fetch_started.set()
                if n == self.fail_at:
                    raise ConnectionError(f"page {n} failed")
                await asyncio.sleep(0)  # a fetch yields to the event loop, as a real request does
                yield n
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.closed = True


async def test_the_next_page_is_fetched_while_the_current_one_is_handled() -> None:
    source = Source(3)
    seen: list[int] = []
    async with contextlib.aclosing(read_ahead(source.generate())) as pages:
        async for page in pages:
            source.fetch_started.clear()
            if page < 3:
                # handling page n: page n+1's fetch starts without the handler asking for it
                await asyncio.wait_for(source.fetch_started.wait(), timeout=5)
                assert source.started[-1] == page + 1
            seen.append(page)
    assert seen == [1, 2, 3] and source.started == [1, 2, 3] and source.closed


async def test_a_failing_fetch_surfaces_after_the_page_before_it_was_handled() -> None:
    source = Source(3, fail_at=2)
    handled: list[int] = []
    with pytest.raises(ConnectionError, match="page 2 failed"):
        async with contextlib.aclosing(read_ahead(source.generate())) as pages:
            async for page in pages:
                handled.append(page)
    assert handled == [1] and source.closed


async def test_stopping_early_cancels_the_fetch_ahead_and_closes_the_source() -> None:
    source = Source(5)
    stop = RuntimeError("the writer failed")

    async def consume() -> None:
        async with contextlib.aclosing(read_ahead(source.generate())) as pages:
            async for _ in pages:
                await asyncio.wait_for(source.fetch_started.wait(), timeout=5)
                raise stop

    with pytest.raises(RuntimeError) as raised:
        await consume()
    assert raised.value is stop
    assert source.closed and source.started == [1, 2]  # page 2 was being fetched; no page 3 was asked for


async def test_an_empty_chain_yields_nothing() -> None:
    source = Source(0)
    async with contextlib.aclosing(read_ahead(source.generate())) as pages:
        assert [page async for page in pages] == []
    assert source.closed
