"""What action handlers share: the store, 360Learning access, timing options, the clock, log URLs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.actions.remote import RemoteAccess
from lmsbridge.clock import utcnow
from lmsbridge.connectors.errors import NotFound
from lmsbridge.connectors.learning360 import writes
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.write_mapping import FINISHED_STATES
from lmsbridge.store.logs import write_log
from lmsbridge.store.transact import transact_async

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ActionOptions:
    """Timing of action tasks; tests shrink the numbers."""

    # enroll/complete calls closer together than this (per integration) share one statistics import
    batch_window_s: float = 0.5
    # a continuous stream of calls is still cut into an import this often
    batch_max_wait_s: float = 10.0
    # bulk operation polling: start, back off by 1.5x up to the max; give up after the timeout
    poll_initial_s: float = 0.25
    poll_max_s: float = 5.0
    operation_timeout_s: float = 600.0
    # a RUNNING task not updated for this long belongs to a stopped job: it is dispatched again (a job
    # still running holds the task's lock, so the new one waits and then finds it done)
    stale_after_s: float = 30.0
    # transient failures (360Learning unavailable, throttled): retry this often before failing the task
    max_attempts: int = 6
    retry_delay_s: float = 5.0


class OperationTimedOut(Exception):
    """A 360Learning bulk operation did not finish within ``operation_timeout_s``."""


@dataclass
class ActionEnv:
    db: Engine
    remote: RemoteAccess
    options: ActionOptions = field(default_factory=ActionOptions)
    public_base_url: str = "http://127.0.0.1:8000"
    clock: Callable[[], datetime] = utcnow
    _db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # bulk operations a webhook (bulk.operation.ended) said ended, by id: a poll waiting on one looks now
    _ended: dict[str, asyncio.Event] = field(default_factory=dict)

    def operation_ended(self, operation_id: str) -> None:
        """360Learning said the operation ended (its webhook reached this process)."""
        waiting = self._ended.get(operation_id)  # none: no poll of it here (its first GET sees it ended)
        if waiting is not None:
            waiting.set()

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

    async def poll_known(self, client: Learning360Client, operation_id: str) -> dict[str, Any] | None:
        """Resume polling an operation submitted earlier; None when 360Learning no longer knows it
        (then the items are submitted again: upserts and these imports are safe to repeat)."""
        try:
            return await self.poll(client, operation_id)
        except NotFound as exc:
            if exc.code == "bulkOperationNotFound":
                return None
            raise

    async def poll(self, client: Learning360Client, operation_id: str) -> dict[str, Any]:
        """Wait for a bulk operation to end (completed or error); raises ``OperationTimedOut``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.operation_timeout_s
        interval = self.options.poll_initial_s
        ended = self._ended.setdefault(operation_id, asyncio.Event())
        try:
            while True:
                operation = await writes.get_operation(client, operation_id)
                if operation.get("status") in FINISHED_STATES:
                    return operation
                if loop.time() >= deadline:
                    raise OperationTimedOut(f"bulk operation {operation_id} did not finish in time")
                # the bulk.operation.ended webhook ends the wait at once; polling stays the fallback
                # (no subscription, or the webhook reached another process)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), interval)
                interval = min(interval * 1.5, self.options.poll_max_s)
        finally:
            self._ended.pop(operation_id, None)
