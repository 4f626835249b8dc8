"""How a running sync reports progress (the CLI draws Rich bars from it; the job runner ignores it)."""

from __future__ import annotations

from typing import Protocol


class SyncProgress(Protocol):
    def stream_planned(self, stream: str, chains: int, done: int) -> None: ...

    def chain_started(self, stream: str, key: str) -> None: ...

    def page_done(self, stream: str, key: str, items: int) -> None: ...

    def chain_done(self, stream: str, key: str) -> None: ...


class NoProgress:
    def stream_planned(self, stream: str, chains: int, done: int) -> None:
        return None

    def chain_started(self, stream: str, key: str) -> None:
        return None

    def page_done(self, stream: str, key: str, items: int) -> None:
        return None

    def chain_done(self, stream: str, key: str) -> None:
        return None
