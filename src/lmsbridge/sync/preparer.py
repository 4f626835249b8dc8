"""Where a sync prepares its users and stats pages (``sync/prepare.py``): in a helper process of its own, so
that mapping and hashing (most of a page's Python) run on another core while the sync's process fetches
and writes. Kept because it earns it: side by side, mapping in the sync's own process made figure 3's
wall twice as long and a standard process pool cost a quarter more CPU per record (its spawned worker
re-imports the caller's modules; benchmarks/README.md).

Both ends are here. The helper is ``python -m lmsbridge.sync.preparer`` (no database code, ~20 MB),
started at the first large page and stopped by ``close()`` (the end of a run); it reads requests from
stdin and writes answers to stdout until stdin closes. Frames: a 4-byte big-endian length, then a pickle.
Request: ``(stream, integration_id, items)``; answer: ``(True, prepared)`` or ``(False, exception)``, the
exception the same preparation would have raised in the sync's process. Pickle is safe here: both ends
are lmsbridge, over private pipes. Small pages are prepared in place (a round trip costs more than they
do); if the helper dies, pages are prepared in place from then on (logged once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import struct
import sys
from functools import partial
from typing import Any, BinaryIO

from lmsbridge.sync.prepare import PAGE_PREPARERS

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
# pages with fewer items are prepared in the sync's process
MIN_ITEMS_FOR_HELPER = 100
# Below the API's priority: on a busy machine, reads are served first and the sync waits (os.nice)
NICENESS = 10


class PagePreparer:
    """``prepare(stream, integration_id, items)``: what the stream's page handler takes (the items
    themselves for streams that are not prepared)."""

    def __init__(self, *, use_helper: bool = True) -> None:
        self.use_helper = use_helper
        self._helper: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def prepare(self, stream: str, integration_id: str, items: list[dict[str, Any]]) -> Any:
        prepare = PAGE_PREPARERS.get(stream)
        if prepare is None:
            return items
        in_place = partial(prepare, integration_id, items)
        if not self.use_helper or len(items) < MIN_ITEMS_FOR_HELPER:
            return in_place()
        payload = pickle.dumps((stream, integration_id, items), protocol=pickle.HIGHEST_PROTOCOL)
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
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
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


# ---- the helper's end ------------------------------------------------------------------------------


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload; None at a clean end of input."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def answer(request: bytes) -> bytes:
    stream, integration_id, items = pickle.loads(request)
    try:
        result: tuple[bool, object] = (True, PAGE_PREPARERS[stream](integration_id, items))
    except Exception as exc:  # sent back to be raised where the page is written
        result = (False, exc)
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # what does not pickle still travels as its type and text
        failure = exc if result[0] else result[1]
        return pickle.dumps((False, RuntimeError(f"{type(failure).__name__}: {failure}")))


def main() -> None:
    os.nice(NICENESS)
    requests = sys.stdin.buffer
    # answers own the real stdout; anything printed by accident goes to stderr instead
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    while (request := read_frame(requests)) is not None:
        answers.write(frame(answer(request)))
        answers.flush()


if __name__ == "__main__":
    main()
