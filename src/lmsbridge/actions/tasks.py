"""The ``action_tasks`` repository: create, claim (conditional UPDATE), heartbeat, save progress, finish.

A task is PENDING (due at ``next_attempt_at``), RUNNING (a worker holds it and beats), COMPLETED or
FAILED. A RUNNING task whose heartbeat is stale belongs to a dead worker and is claimed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from lmsbridge import logs, metrics
from lmsbridge.ids import random_id
from lmsbridge.store.schema import ActionTask

PENDING, RUNNING, COMPLETED, FAILED = "PENDING", "RUNNING", "COMPLETED", "FAILED"
UPSERT, DEACTIVATE, ENROLL, COMPLETE = "courses_upsert", "deactivate", "enroll", "complete"
# kinds that go through one coalesced statistics import per integration
STATS_KINDS = (ENROLL, COMPLETE)


def create_task(
    session: Session,
    integration_id: str,
    kind: str,
    request: dict[str, Any],
    now: datetime,
    *,
    log_id: str | None = None,
) -> ActionTask:
    task = ActionTask(
        id=random_id(),
        integration_id=integration_id,
        kind=kind,
        state=PENDING,
        request=request,
        remote_state={},
        result=None,
        error=None,
        attempts=0,
        next_attempt_at=now,
        heartbeat_at=None,
        created_at=now,
        updated_at=now,
        completed_at=None,
        log_id=log_id,
    )
    session.add(task)
    session.flush()
    return task


def get_task(session: Session, integration_id: str, task_id: str) -> ActionTask | None:
    if not task_id or "\x00" in task_id or len(task_id) > 64:
        return None
    task = session.get(ActionTask, task_id)
    return task if task is not None and task.integration_id == integration_id else None


def _claimable(now: datetime, stale_before: datetime) -> Any:
    return or_(
        and_(
            ActionTask.state == PENDING,
            or_(ActionTask.next_attempt_at.is_(None), ActionTask.next_attempt_at <= now),
        ),
        and_(
            ActionTask.state == RUNNING,
            or_(ActionTask.heartbeat_at.is_(None), ActionTask.heartbeat_at < stale_before),
        ),
    )


def due_tasks(
    session: Session, now: datetime, stale_before: datetime, kinds: Sequence[str], limit: int = 100
) -> list[tuple[str, str, str, datetime]]:
    """(id, integration_id, kind, created_at) of claimable tasks of ``kinds``, oldest first."""
    rows = session.execute(
        select(ActionTask.id, ActionTask.integration_id, ActionTask.kind, ActionTask.created_at)
        .where(ActionTask.kind.in_(list(kinds)), _claimable(now, stale_before))
        .order_by(ActionTask.created_at, ActionTask.id)
        .limit(limit)
    )
    return [(r.id, r.integration_id, r.kind, r.created_at) for r in rows]


def claim(
    session: Session, task_ids: Iterable[str], now: datetime, stale_before: datetime
) -> list[ActionTask]:
    """Take the given tasks that are still claimable (one conditional UPDATE each: two workers never
    take the same task); returns the claimed ones in the order given."""
    claimed: list[str] = []
    for task_id in task_ids:
        result = session.execute(
            update(ActionTask)
            .where(ActionTask.id == task_id, _claimable(now, stale_before))
            .values(state=RUNNING, heartbeat_at=now, attempts=ActionTask.attempts + 1, updated_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(task_id)
    if not claimed:
        return []
    rows = {t.id: t for t in session.scalars(select(ActionTask).where(ActionTask.id.in_(claimed)))}
    for task in rows.values():
        session.refresh(task)
    return [rows[i] for i in claimed if i in rows]


def heartbeat(session: Session, task_ids: Sequence[str], now: datetime) -> None:
    if task_ids:
        session.execute(
            update(ActionTask)
            .where(ActionTask.id.in_(list(task_ids)), ActionTask.state == RUNNING)
            .values(heartbeat_at=now)
        )


def save_remote_state(
    session: Session, task_ids: Sequence[str], remote_state: dict[str, Any], now: datetime
) -> None:
    """Record where the remote side is (bulk operation ids) so a restart resumes instead of resubmitting."""
    if task_ids:
        session.execute(
            update(ActionTask)
            .where(ActionTask.id.in_(list(task_ids)))
            .values(remote_state=remote_state, updated_at=now, heartbeat_at=now)
        )


def release(
    session: Session, task_ids: Sequence[str], now: datetime, *, retry_at: datetime | None = None
) -> None:
    """Back to PENDING (a worker stopping, or a transient failure), keeping remote_state."""
    if task_ids:
        session.execute(
            update(ActionTask)
            .where(ActionTask.id.in_(list(task_ids)), ActionTask.state == RUNNING)
            .values(state=PENDING, next_attempt_at=retry_at or now, heartbeat_at=None, updated_at=now)
        )


def finish(
    session: Session,
    task_id: str,
    state: str,
    now: datetime,
    *,
    result: dict[str, Any] | list[Any] | None = None,
    error: dict[str, Any] | None = None,
    log_id: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "state": state,
        "result": result,
        "error": error,
        "completed_at": now,
        "updated_at": now,
        "next_attempt_at": None,
    }
    if log_id is not None:
        values["log_id"] = log_id
    ended = session.execute(
        update(ActionTask)
        .where(ActionTask.id == task_id)
        .values(**values)
        .returning(ActionTask.integration_id, ActionTask.kind, ActionTask.attempts, ActionTask.created_at)
    ).first()
    if ended is not None:
        _report_end(session, task_id, state, now, ended, error)


def _report_end(
    session: Session, task_id: str, state: str, now: datetime, ended: Any, error: dict[str, Any] | None
) -> None:
    """The task's end line and metric, once its transaction commits (a rolled-back end did not happen)."""

    def report(_session: Session) -> None:
        logs.log_task_finished(
            integration_id=ended.integration_id,
            task_id=task_id,
            kind=ended.kind,
            state=state,
            attempts=int(ended.attempts or 0),
            duration_s=logs.seconds_between(ended.created_at, now),
            error=error,
        )
        metrics.ACTION_TASKS.labels(kind=ended.kind, state=state).inc()

    event.listen(session, "after_commit", report, once=True)
