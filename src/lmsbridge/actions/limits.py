"""At most N in-flight action requests per integration (Kombo: 30); the next one is refused with 429."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAX_IN_FLIGHT = 30


class ConcurrencyExceeded(Exception):
    pass


class InFlightLimiter:
    """A per-integration counter in the API process (thread-safe: sync routes run in a thread pool)."""

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    def remaining(self, integration_id: str) -> int:
        with self._lock:
            return max(self.limit - self._in_flight.get(integration_id, 0), 0)

    @contextmanager
    def slot(self, integration_id: str) -> Iterator[int]:
        """Hold one slot; yields how many remain. Raises ``ConcurrencyExceeded`` when none is free."""
        with self._lock:
            current = self._in_flight.get(integration_id, 0)
            if current >= self.limit:
                raise ConcurrencyExceeded(integration_id)
            self._in_flight[integration_id] = current + 1
            remaining = self.limit - current - 1
        try:
            yield remaining
        finally:
            with self._lock:
                left = self._in_flight.get(integration_id, 1) - 1
                if left > 0:
                    self._in_flight[integration_id] = left
                else:
                    self._in_flight.pop(integration_id, None)
