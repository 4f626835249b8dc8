"""What action handlers share: the store, the LMS access, timing options, the clock, log URLs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.actions.remote import RemoteAccess
from lmsbridge.clock import utcnow
from lmsbridge.connectors.writes import OperationTimedOut, WriteTiming
from lmsbridge.store.logs import write_log
from lmsbridge.store.transact import transact_async

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ActionOptions:
    """Timing of action tasks; tests shrink the numbers."""

    # enroll/complete calls closer together than this (per integration) share one remote call, when the
    # connector's batching policy coalesces them
    batch_window_s: float = 0.5
    # a continuous stream of calls is still cut into an import this often
    batch_max_wait_s: float = 10.0
    # polling asynchronous remote writes: start, back off by 1.5x up to the max; give up after the timeout
    poll_initial_s: float = 0.25
    poll_max_s: float = 5.0
    operation_timeout_s: float = 600.0
    # a RUNNING task not updated for this long belongs to a stopped job: it is dispatched again (a job
    # still running holds the task's lock, so the new one waits and then finds it done)
    stale_after_s: float = 30.0
    # transient failures (the LMS unavailable, throttled): retry this often before failing the task
    max_attempts: int = 6
    retry_delay_s: float = 5.0

    @property
    def timing(self) -> WriteTiming:
        return WriteTiming(self.poll_initial_s, self.poll_max_s, self.operation_timeout_s)


__all__ = ["ActionEnv", "ActionOptions", "OperationTimedOut"]


@dataclass
class ActionEnv:
    db: Engine
    remote: RemoteAccess
    options: ActionOptions = field(default_factory=ActionOptions)
    public_base_url: str = "http://127.0.0.1:8000"
    clock: Callable[[], datetime] = utcnow
    _db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def operation_ended(self, operation_id: str) -> None:
        """The LMS said a remote operation ended (e.g. its webhook reached this process)."""
        self.remote.operation_ended(operation_id)

    async def in_db(self, work: Callable[[Session], T]) -> T:
        # one writer at a time from this process (SQLite has one; keeps PostgreSQL transactions short)
        async with self._db_lock:
            return await transact_async(self.db, work)

    def log_url(self, log_id: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/v1/logs/{log_id}"

    async def log(self, integration_id: str, **fields: Any) -> str:
        def write(session: Session) -> str:
            return str(write_log(session, "action", integration_id=integration_id, **fields).id)

        return await self.in_db(write)
