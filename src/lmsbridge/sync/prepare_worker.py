"""The page-preparation process: ``python -m lmsbridge.sync.prepare_worker``, started by
``sync/preparer.py``. It reads requests from stdin and writes answers to stdout until stdin closes (the
sync ends, or its process dies).

Frames: a 4-byte big-endian length, then a pickle. Request: ``(map_page, integration_id, items, ctx)``
(the stream's mapping function travels by name);
answer: ``(True, prepared)`` or ``(False, exception)``, the exception the same preparation would have
raised in the sync's own process. Pickle is safe here: both ends are lmsbridge, over private pipes.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import BinaryIO

from lmsbridge.sync.prepare import prepare_page

HEADER = struct.Struct(">I")
# Below the API's priority: on a busy machine, reads are served first and the sync waits (os.nice)
NICENESS = 10


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
    map_page, integration_id, items, ctx = pickle.loads(request)
    try:
        prepared = prepare_page(map_page, integration_id, items, ctx)
        result: tuple[bool, object] = (True, prepared)
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
