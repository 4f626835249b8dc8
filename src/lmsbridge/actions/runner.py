"""``ActionRunner``: what the job system calls to run stored action tasks. A course upsert is one job
per task; the enroll/complete tasks of one integration go out one remote call at a time (one job per
integration, holding the integration's lock), as many per call and as coalesced as the connector's
``BatchingPolicy`` says.

A task is claimed with a conditional UPDATE before it runs; a RUNNING task whose job died (stale
heartbeat) is claimed again by the next job and resumed from its ``remote_state``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from lmsbridge.actions import courses_upsert, stats_batch, tasks
from lmsbridge.actions.env import ActionEnv, ActionOptions, OperationTimedOut
from lmsbridge.actions.errors import ActionError, error_body, from_connector, is_transient
from lmsbridge.actions.remote import RemoteAccess
from lmsbridge.actions.store_writes import reconcile_progressions
from lmsbridge.clock import utcnow
from lmsbridge.connectors.registry import write_batching
from lmsbridge.connectors.writes import BatchingPolicy, Pair, WriteActions
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.schema import ActionTask, Integration
from lmsbridge.unified.records import CourseProgressionRecord

log = logging.getLogger(__name__)

__all__ = ["ActionOptions", "ActionRunner"]


class ActionRunner:
    """Runs one upsert task or one integration's enroll/complete call per call; ``aclose()`` releases
    its connectors."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        settings: Settings | None = None,
        *,
        options: ActionOptions | None = None,
        connector_options: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        options = options or ActionOptions()
        remote = RemoteAccess(db, box, settings, connector_options=connector_options, timing=options.timing)
        self.env = ActionEnv(
            db=db,
            remote=remote,
            options=options,
            public_base_url=settings.public_base_url if settings else "http://127.0.0.1:8000",
            clock=clock,
        )

    @property
    def options(self) -> ActionOptions:
        return self.env.options

    async def aclose(self) -> None:
        await self.env.remote.aclose()

    def _stale_before(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.options.stale_after_s)

    # ---- what is due (the job system's dispatcher asks) ----------------------------------------

    def due_upserts(self, session: Session, now: datetime) -> list[str]:
        due = tasks.due_tasks(session, now, self._stale_before(now), [tasks.UPSERT], limit=200)
        return [task_id for task_id, *_ in due]

    def ready_integrations(self, session: Session, now: datetime) -> list[str]:
        """Integrations whose due enroll/complete calls form a call now: the connector does not
        coalesce, the window passed without a new call, the oldest call waited the maximum, the call
        is full, or a task is being resumed."""
        stale = self._stale_before(now)
        window = timedelta(seconds=self.options.batch_window_s)
        max_wait = timedelta(seconds=self.options.batch_max_wait_s)
        rows = session.execute(
            select(
                ActionTask.integration_id,
                Integration.tool,
                func.min(ActionTask.created_at),
                func.max(ActionTask.created_at),
                func.count(),
                func.max(ActionTask.attempts),
            )
            .join(Integration, Integration.id == ActionTask.integration_id)
            .where(ActionTask.kind.in_(list(tasks.STATS_KINDS)), tasks._claimable(now, stale))
            .group_by(ActionTask.integration_id, Integration.tool)
        )
        ready = []
        for integration_id, tool, oldest, newest, count, attempts in rows:
            policy = _policy(tool)
            if (
                not policy.coalesce_progressions
                or now - newest >= window
                or now - oldest >= max_wait
                or count >= policy.progressions_per_call
                or (attempts or 0) > 0  # resumed or retried: its window has long passed
            ):
                ready.append(integration_id)
        return ready

    # ---- running (one job each) ---------------------------------------------------------------

    async def run_upsert(self, task_id: str) -> None:
        now = self.env.clock()
        stale = self._stale_before(now)
        claimed = await self.env.in_db(lambda s: tasks.claim(s, [task_id], now, stale))
        for task in claimed:
            await self._guard([task], lambda t=task: courses_upsert.run(t, self.env))  # type: ignore[misc]

    async def run_stats(self, integration_id: str) -> None:
        """One remote call of the integration's due enroll/complete tasks."""
        now = self.env.clock()
        stale = self._stale_before(now)
        claimed = await self.env.in_db(lambda s: self._claim_stats(s, integration_id, now, stale))
        if claimed:
            await self._guard(claimed, lambda: stats_batch.run(claimed, self.env))

    def _claim_stats(
        self, session: Session, integration_id: str, now: datetime, stale: datetime
    ) -> list[ActionTask]:
        integration = session.get(Integration, integration_id)
        per_call = _policy(integration.tool).progressions_per_call if integration is not None else 1
        due = session.scalars(
            select(ActionTask.id)
            .where(
                ActionTask.integration_id == integration_id,
                ActionTask.kind.in_(list(tasks.STATS_KINDS)),
                tasks._claimable(now, stale),
            )
            .order_by(ActionTask.created_at, ActionTask.id)
            .limit(per_call)
        )
        claimed = tasks.claim(session, list(due), now, stale)
        # tasks already inside a submitted call are resumed on their own (the same remote progress)
        by_progress: dict[str, list[ActionTask]] = {}
        for task in claimed:
            by_progress.setdefault(_progress_key(task), []).append(task)
        resumed = [group for key, group in by_progress.items() if key]
        if resumed:
            keep = resumed[0]
            others = [t.id for t in claimed if t not in keep]
            tasks.release(session, others, now)
            return keep
        return claimed

    async def _guard(self, claimed: Sequence[ActionTask], work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            # the worker is stopping: give the tasks back with their remote state, so the next job
            # resumes them at once instead of waiting for them to look abandoned
            ids = [t.id for t in claimed]
            await self.env.in_db(lambda s: tasks.release(s, ids, self.env.clock()))
            raise
        except Exception as exc:
            await self._failed(claimed, exc)

    async def _failed(self, claimed: Sequence[ActionTask], exc: Exception) -> None:
        ids = [t.id for t in claimed]
        integration_id = claimed[0].integration_id
        attempts = max(t.attempts for t in claimed)
        writer = await self._writer(integration_id)
        # what ``prepare`` found may be gone (e.g. deleted remotely): prepared again next time
        forgotten = writer is not None and writer.forget(exc)
        transient = is_transient(exc, writer) or forgotten
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
            failure = from_connector(exc, writer)
        log_id = await self.env.log(
            integration_id,
            request={"tasks": ids[:50], "kind": claimed[0].kind},
            error=f"{failure.code}: {failure.message}",
        )
        error = error_body(failure.code, failure.message, self.env.log_url(log_id))
        found = await self._current_progressions(writer, claimed)

        def fail(session: Session) -> None:
            if found is not None and writer is not None:
                reconcile_progressions(session, integration_id, writer, found, now)
            for task_id in ids:
                tasks.finish(session, task_id, tasks.FAILED, now, error=error, log_id=log_id)

        await self.env.in_db(fail)

    async def _writer(self, integration_id: str) -> WriteActions | None:
        try:
            return await self.env.remote.writer(integration_id, prepare=False)
        except Exception:  # the integration may be gone, or have no write actions
            return None

    async def _current_progressions(
        self, writer: WriteActions | None, claimed: Sequence[ActionTask]
    ) -> dict[Pair, CourseProgressionRecord | None] | None:
        """For failed enroll/complete tasks: what the LMS shows for their pairs, so provisional
        progressions are put right (None when it cannot be read either)."""
        pairs = [
            (str(t.request["pair"][0]), str(t.request["pair"][1]))
            for t in claimed
            if t.kind in tasks.STATS_KINDS
        ]
        if not pairs or writer is None:
            return None
        try:
            return await writer.read_progressions(pairs)
        except Exception:  # the failure itself may be that the LMS is unreachable
            log.info("could not re-read the progressions of %d failed pairs", len(pairs))
            return None


def _policy(tool: str) -> BatchingPolicy:
    # a tool without write actions never has enroll/complete tasks; one per call is the safe reading
    return write_batching(tool) or BatchingPolicy(1, 1, coalesce_progressions=False, calls_in_flight=1)


def _progress_key(task: ActionTask) -> str:
    """Tasks with the same saved remote progress were sent in the same call ("": not sent yet)."""
    state = task.remote_state or {}
    return json.dumps(state, sort_keys=True) if state else ""
