"""The job interface the API and CLI depend on; backends implement it."""

from __future__ import annotations

from typing import Protocol


class JobBackend(Protocol):
    async def enqueue_sync(self, integration_id: str, sync_type: str) -> tuple[str, bool]:
        """Queue a sync; returns (sync id, already_queued). At most one queued or running per integration."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
