"""Recently verified API keys, per process: a request whose key was verified within the last few seconds
skips the database lookup (and the worker-thread hop it needs).

Only successful verifications are kept, so unknown keys always reach the database. The price: a key
revoked with ``lmsbridge api-keys revoke`` keeps working in a running server for up to ``ttl_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lmsbridge.crypto import hash_api_key
from lmsbridge.store.schema import ApiKey

# bounds memory against many distinct valid keys; the cache simply starts over when full
MAX_ENTRIES = 1024


class VerifiedKeys:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[ApiKey, float]] = {}

    def get(self, plaintext: str) -> ApiKey | None:
        entry = self._entries.get(hash_api_key(plaintext))
        if entry is None or self._clock() >= entry[1]:
            return None
        return entry[0]

    def put(self, plaintext: str, key: ApiKey) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[hash_api_key(plaintext)] = (key, self._clock() + self.ttl_seconds)
