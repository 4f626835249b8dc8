"""``ActionWorker``: runs stored action tasks in the background. Course upserts run one task each;
enroll/complete tasks of one integration are coalesced into one statistics import at a time.

Tasks are claimed with conditional UPDATEs (several workers never take the same task); a running task
beats; a task whose worker died (stale heartbeat) is resumed from its ``remote_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from lmsbridge.actions import courses_upsert, stats_batch, tasks
from lmsbridge.actions.env import ActionEnv, ActionOptions, OperationTimedOut, utcnow
from lmsbridge.actions.errors import ActionError, error_body, from_connector, is_transient
from lmsbridge.actions.remote import RemoteAccess
from lmsbridge.actions.store_writes import reconcile_progressions
from lmsbridge.connectors.errors import NotFound
from lmsbridge.connectors.learning360 import writes
from lmsbridge.connectors.learning360.config import ClientOptions
from lmsbridge.connectors.learning360.write_mapping import STATS_PER_IMPORT
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.schema import ActionTask

log = logging.getLogger(__name__)
# how long stop() waits for each step (handlers, releasing tasks, closing connections)
STOP_GRACE_S = 10.0

__all__ = ["ActionOptions", "ActionWorker"]


class ActionWorker:
    """Start with ``await worker.start()``, stop with ``await worker.stop()`` (claimed tasks go back to
    PENDING with their remote state, so the next worker resumes them at once)."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        settings: Settings | None = None,
        *,
        options: ActionOptions | None = None,
        client_options: ClientOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        remote = RemoteAccess(db, box, settings, client_options=client_options)
        self.env = ActionEnv(
            db=db,
            remote=remote,
            options=options or ActionOptions(),
            public_base_url=settings.public_base_url if settings else "http://127.0.0.1:8000",
            clock=clock,
        )
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # running handler → the task ids it holds
        self._running: dict[asyncio.Task[None], list[str]] = {}
        self._stats_busy: set[str] = set()

    @property
    def options(self) -> ActionOptions:
        return self.env.options

    async def start(self) -> None:
        if self._loop_task is None:
            self._wake = asyncio.Event()
            self._loop_task = asyncio.create_task(self._loop(), name="action-worker")
            self._heartbeat_task = asyncio.create_task(self._heartbeats(), name="action-heartbeats")

    async def stop(self) -> None:
        """Cancel everything and give the claimed tasks back. Every wait is bounded: a shutdown never
        hangs on a handler or a connection that does not let go (its tasks are claimable again once
        their heartbeat is stale)."""
        background = [t for t in (self._loop_task, self._heartbeat_task) if t is not None]
        self._loop_task = self._heartbeat_task = None
        running, self._running = dict(self._running), {}
        for task in (*background, *running):
            task.cancel()
        if background or running:
            _, pending = await asyncio.wait({*background, *running}, timeout=STOP_GRACE_S)
            if pending:
                log.warning("%d action handlers did not stop within %s s", len(pending), STOP_GRACE_S)
        held = [task_id for ids in running.values() for task_id in ids]
        if held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.env.in_db(lambda s: tasks.release(s, held, self.env.clock())), STOP_GRACE_S
                )
        self._stats_busy.clear()
        try:
            await asyncio.wait_for(self.env.remote.aclose(), STOP_GRACE_S)
        except TimeoutError:
            log.warning("closing the action worker's connections took longer than %s s", STOP_GRACE_S)

    def wake(self) -> None:
        """Look for due tasks now (the API calls this after queueing one in the same process)."""
        self._wake.set()

    # ---- the loop ----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # the loop must survive a failed round (e.g. the database restarting)
                log.exception("action worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.tick_s)
            self._wake.clear()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            held = [task_id for ids in self._running.values() for task_id in ids]
            if held:
                try:
                    await self.env.in_db(partial(self._beat, held))
                except Exception:
                    log.exception("action task heartbeat failed")

    def _beat(self, held: list[str], session: Session) -> None:
        tasks.heartbeat(session, held, self.env.clock())

    def _stale_before(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.options.stale_after_s)

    async def _tick(self) -> None:
        await self._start_upserts()
        await self._start_stats_batches()

    async def _start_upserts(self) -> None:
        free = self.options.max_parallel_tasks - sum(
            1 for handler in self._running if handler.get_name().startswith("task:")
        )
        if free <= 0:
            return
        now = self.env.clock()
        stale = self._stale_before(now)
        due = await self.env.in_db(lambda s: tasks.due_tasks(s, now, stale, [tasks.UPSERT], limit=free))
        for task_id, *_ in due:
            claimed = await self.env.in_db(lambda s, i=task_id: tasks.claim(s, [i], now, stale))  # type: ignore[misc]
            for task in claimed:
                self._spawn([task], lambda t=task: courses_upsert.run(t, self.env))  # type: ignore[misc]

    async def _start_stats_batches(self) -> None:
        now = self.env.clock()
        stale = self._stale_before(now)
        ready = await self.env.in_db(lambda s: self._ready_integrations(s, now, stale))
        for integration_id in ready:
            if integration_id in self._stats_busy:
                continue
            claimed = await self.env.in_db(lambda s, i=integration_id: self._claim_stats(s, i, now, stale))  # type: ignore[misc]
            if not claimed:
                continue
            self._stats_busy.add(integration_id)
            self._spawn(claimed, lambda c=claimed: self._run_stats(c), stats_integration=integration_id)  # type: ignore[misc]

    def _ready_integrations(self, session: Session, now: datetime, stale: datetime) -> list[str]:
        """Integrations whose due enroll/complete calls form a batch now: the window passed without a
        new call, the oldest call waited the maximum, the import is full, or a task is being resumed."""
        window = timedelta(seconds=self.options.batch_window_s)
        max_wait = timedelta(seconds=self.options.batch_max_wait_s)
        rows = session.execute(
            select(
                ActionTask.integration_id,
                func.min(ActionTask.created_at),
                func.max(ActionTask.created_at),
                func.count(),
                func.max(ActionTask.attempts),
            )
            .where(ActionTask.kind.in_(list(tasks.STATS_KINDS)), tasks._claimable(now, stale))
            .group_by(ActionTask.integration_id)
        )
        ready = []
        for integration_id, oldest, newest, count, attempts in rows:
            if (
                now - newest >= window
                or now - oldest >= max_wait
                or count >= STATS_PER_IMPORT
                or (attempts or 0) > 0  # resumed or retried: its window has long passed
            ):
                ready.append(integration_id)
        return ready

    def _claim_stats(
        self, session: Session, integration_id: str, now: datetime, stale: datetime
    ) -> list[ActionTask]:
        due = session.scalars(
            select(ActionTask.id)
            .where(
                ActionTask.integration_id == integration_id,
                ActionTask.kind.in_(list(tasks.STATS_KINDS)),
                tasks._claimable(now, stale),
            )
            .order_by(ActionTask.created_at, ActionTask.id)
            .limit(STATS_PER_IMPORT)
        )
        claimed = tasks.claim(session, list(due), now, stale)
        # tasks already inside a submitted import are resumed on their own (the same operation)
        by_operation: dict[str | None, list[ActionTask]] = {}
        for task in claimed:
            by_operation.setdefault((task.remote_state or {}).get("operation_id"), []).append(task)
        resumed = [group for op, group in by_operation.items() if op]
        if resumed:
            keep = resumed[0]
            others = [t.id for t in claimed if t not in keep]
            tasks.release(session, others, now)
            return keep
        return claimed

    async def _run_stats(self, batch: list[ActionTask]) -> None:
        await stats_batch.run(batch, self.env)

    # ---- running handlers ------------------------------------------------------------------------------

    def _spawn(
        self,
        claimed: Sequence[ActionTask],
        work: Callable[[], Awaitable[None]],
        *,
        stats_integration: str | None = None,
    ) -> None:
        ids = [t.id for t in claimed]
        name = f"stats:{stats_integration}" if stats_integration else f"task:{ids[0]}"
        handler = asyncio.create_task(self._guard(claimed, work, stats_integration), name=name)
        self._running[handler] = ids

    async def _guard(
        self,
        claimed: Sequence[ActionTask],
        work: Callable[[], Awaitable[None]],
        stats_integration: str | None,
    ) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise  # stop(): the tasks are released with their remote state
        except Exception as exc:
            await self._failed(claimed, exc)
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._running.pop(current, None)
            if stats_integration is not None:
                self._stats_busy.discard(stats_integration)
                self._wake.set()  # calls may have queued while this import ran

    async def _failed(self, claimed: Sequence[ActionTask], exc: Exception) -> None:
        ids = [t.id for t in claimed]
        integration_id = claimed[0].integration_id
        attempts = max(t.attempts for t in claimed)
        if isinstance(exc, NotFound) and exc.code == "integrationNotFound":
            # the connector's 360Learning integration was deleted: find or create it again next time
            self.env.remote.forget_provider(integration_id)
        transient = is_transient(exc) or (isinstance(exc, NotFound) and exc.code == "integrationNotFound")
        now = self.env.clock()
        if transient and attempts < self.options.max_attempts:
            log.info("action tasks %s: transient failure, retrying later: %s", ids[:3], exc)
            retry_at = now + timedelta(seconds=self.options.retry_delay_s * attempts)
            await self.env.in_db(lambda s: tasks.release(s, ids, now, retry_at=retry_at))
            return
        if isinstance(exc, OperationTimedOut):
            failure = ActionError("PLATFORM.TASK_TIMED_OUT", str(exc))
        else:
            if not isinstance(exc, ActionError):
                log.warning("action tasks %s failed: %s", ids[:3], exc, exc_info=not transient)
            failure = from_connector(exc)
        log_id = await self.env.log(
            integration_id,
            request={"tasks": ids[:50], "kind": claimed[0].kind},
            error=f"{failure.code}: {failure.message}",
        )
        error = error_body(failure.code, failure.message, self.env.log_url(log_id))
        attempts_by_pair = await self._current_attempts(claimed)

        def fail(session: Session) -> None:
            if attempts_by_pair is not None:
                reconcile_progressions(session, integration_id, attempts_by_pair, now)
            for task_id in ids:
                tasks.finish(session, task_id, tasks.FAILED, now, error=error, log_id=log_id)

        await self.env.in_db(fail)

    async def _current_attempts(
        self, claimed: Sequence[ActionTask]
    ) -> dict[tuple[str, str], list[dict[str, Any]]] | None:
        """For failed enroll/complete tasks: what 360Learning shows for their pairs, so provisional
        progressions are put right (None when it cannot be read either)."""
        pairs = [
            (str(t.request["pair"][0]), str(t.request["pair"][1]))
            for t in claimed
            if t.kind in tasks.STATS_KINDS
        ]
        if not pairs:
            return None
        try:
            client = await self.env.remote.client(claimed[0].integration_id)
            return await writes.pair_attempts(client, pairs)
        except Exception:  # the failure itself may be that 360Learning is unreachable
            log.info("could not re-read the attempts of %d failed pairs", len(pairs))
            return None
