"""The sandbox clock: real time plus an offset that tests and benchmarks can advance."""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, start_ms: int | None = None) -> None:
        now = int(time.time() * 1000)
        self._offset_ms = 0 if start_ms is None else start_ms - now
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._offset_ms

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._offset_ms += int(seconds * 1000)
        return self.now_ms()
