"""The in-process job runner for the single-machine default: the ``sync_runs`` table is the queue.

A loop (woken at once by ``enqueue_sync``, else every ``poll_seconds``) queues scheduled syncs (FULL every
``full_sync_interval_hours``, DELTA every ``delta_sync_interval_hours``), claims queued runs and runs
abandoned by a dead process, and executes them as asyncio tasks, at most ``max_concurrent_syncs`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import list_integrations
from lmsbridge.store.transact import transact_async
from lmsbridge.sync.engine import SyncEngine, utcnow

log = logging.getLogger(__name__)


class LocalJobRunner:
    def __init__(
        self,
        db: Engine,
        sync_engine: SyncEngine,
        *,
        full_interval: timedelta = timedelta(hours=10),
        delta_interval: timedelta = timedelta(hours=3),
        poll_seconds: float = 5.0,
        max_concurrent_syncs: int = 2,
        schedule: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.sync_engine = sync_engine
        self.full_interval = full_interval
        self.delta_interval = delta_interval
        self.poll_seconds = poll_seconds
        self.schedule = schedule
        self.clock = clock
        self._slots = asyncio.Semaphore(max_concurrent_syncs)
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    async def enqueue_sync(self, integration_id: str, sync_type: str) -> tuple[str, bool]:
        now = self.clock()

        def work(session: Session) -> tuple[str, bool]:
            run, already = sync_runs.enqueue(session, integration_id, sync_type, now)
            return run.id, already

        result = await transact_async(self.db, work)
        self._wake.set()
        return result

    def wake(self) -> None:
        """Look for work now (a sync was just queued by another part of the process)."""
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="lmsbridge-jobs")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for task in list(self._running.values()):
            task.cancel()
        # cancelled runs stay RUNNING with a stale heartbeat: the next start resumes them
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()

    async def run_pending_once(self) -> list[str]:
        """One scheduling pass: queue due syncs and start every claimable run. Returns started run ids."""
        now = self.clock()
        if self.schedule:
            await transact_async(self.db, lambda s: self._queue_due(s, now))
        claimable = await transact_async(
            self.db,
            lambda s: [r.id for r in sync_runs.claimable(s, now - self.sync_engine.options.stale_after)],
        )
        started = []
        for run_id in claimable:
            if run_id in self._running:
                continue
            self._running[run_id] = asyncio.create_task(self._execute(run_id), name=f"sync-{run_id}")
            started.append(run_id)
        return started

    async def wait_idle(self) -> None:
        """Wait until every started run has ended (tests and the CLI use it)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_pending_once()
            except Exception:  # the loop must survive a failing pass (e.g. the database restarting)
                log.exception("job runner pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _execute(self, run_id: str) -> None:
        try:
            # what a finished run announces (webhooks) is written by the engine in the run's last transaction
            async with self._slots:
                await self.sync_engine.execute(run_id)
        except RuntimeError as exc:  # claimed by someone else meanwhile
            log.info("run %s not executed: %s", run_id, exc)
        finally:
            self._running.pop(run_id, None)
            self._wake.set()

    def _queue_due(self, session: Session, now: datetime) -> None:
        for integration in list_integrations(session):
            if not integration.enabled or sync_runs.active_run(session, integration.id) is not None:
                continue
            if sync_runs.due_since(
                sync_runs.last_succeeded(session, integration.id, "FULL"), self.full_interval, now
            ):
                sync_runs.enqueue(session, integration.id, "FULL", now)
            elif sync_runs.due_since(sync_runs.last_run(session, integration.id), self.delta_interval, now):
                sync_runs.enqueue(session, integration.id, "DELTA", now)
