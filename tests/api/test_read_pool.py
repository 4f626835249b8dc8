"""The read pool (api/read_pool.py) runs at most its number of threads at once; the rest wait their turn."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lmsbridge.api.read_pool import ReadPool


async def test_a_read_pool_runs_at_most_its_threads_at_once() -> None:
    pool = ReadPool(2)
    state = threading.Condition()
    running, started = 0, 0
    release = threading.Event()

    def work() -> int:
        nonlocal running, started
        with state:
            running += 1
            started += 1
            state.notify_all()
        release.wait(timeout=60)
        with state:
            running -= 1
        return threading.get_ident()

    def wait_for_two() -> bool:
        with state:
            return state.wait_for(lambda: running == 2, timeout=60)

    tasks = [asyncio.create_task(pool.run(work)) for _ in range(6)]
    assert await asyncio.to_thread(wait_for_two)
    await asyncio.wait(tasks, timeout=0.3)  # bounded check that no third one starts
    assert (running, started) == (2, 2)
    release.set()
    threads = await asyncio.gather(*tasks)
    assert started == 6 and len(threads) == 6


def test_a_read_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        ReadPool(0)
