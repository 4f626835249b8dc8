"""Sync runs: QUEUED → RUNNING → a terminal state, each run's checkpoints, cancel requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.store.schema import SyncRun

QUEUED, RUNNING = "QUEUED", "RUNNING"
ACTIVE_STATES = (QUEUED, RUNNING)
TERMINAL_STATES = (
    "SUCCEEDED",
    "FAILED",
    "PARTIALLY_FAILED",
    "AUTHENTICATION_FAILED",
    "CANCELLED",
    "TIMED_OUT",
)


def active_run(session: Session, integration_id: str) -> SyncRun | None:
    return session.scalars(
        select(SyncRun)
        .where(SyncRun.integration_id == integration_id, SyncRun.state.in_(ACTIVE_STATES))
        .order_by(SyncRun.created_at)
        .limit(1)
    ).first()


def enqueue(session: Session, integration_id: str, sync_type: str, now: datetime) -> tuple[SyncRun, bool]:
    """Queue a sync unless one is queued or running (Kombo allows one); returns (run, already_queued)."""
    existing = active_run(session, integration_id)
    if existing is not None:
        return existing, True
    try:
        with session.begin_nested():  # another process may queue one at the same moment
            run = _new_run(session, integration_id, sync_type, now)
    except IntegrityError:
        existing = active_run(session, integration_id)
        if existing is None:
            raise
        return existing, True
    return run, False


def _new_run(session: Session, integration_id: str, sync_type: str, now: datetime) -> SyncRun:
    run = SyncRun(
        id=random_id(),
        integration_id=integration_id,
        type=sync_type,
        state=QUEUED,
        created_at=now,
        streams={},
        api_calls=0,
        warnings=[],
    )
    session.add(run)
    session.flush()
    return run


def claim(session: Session, run_id: str, now: datetime, stale_before: datetime) -> SyncRun | None:
    """Take a queued run, or a running one whose heartbeat is older than ``stale_before`` (its process
    died); the conditional UPDATE makes two workers never take the same run."""
    result = session.execute(
        update(SyncRun)
        .where(
            SyncRun.id == run_id,
            or_(
                SyncRun.state == QUEUED,
                (SyncRun.state == RUNNING)
                & or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < stale_before),
            ),
        )
        .values(state=RUNNING, heartbeat_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    run = session.get(SyncRun, run_id, populate_existing=True)
    if run is not None and run.started_at is None:
        run.started_at = now
    return run


def claimable(session: Session, stale_before: datetime, limit: int = 50) -> Sequence[SyncRun]:
    """Queued runs and abandoned running ones, oldest first."""
    return session.scalars(
        select(SyncRun)
        .where(
            or_(
                SyncRun.state == QUEUED,
                (SyncRun.state == RUNNING)
                & or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < stale_before),
            )
        )
        .order_by(SyncRun.created_at)
        .limit(limit)
    ).all()


def heartbeat(session: Session, run_id: str, now: datetime) -> bool:
    """The run is alive; returns whether someone asked to cancel it."""
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=now))
    requested = session.scalar(select(SyncRun.cancel_requested_at).where(SyncRun.id == run_id))
    return requested is not None


def request_cancel(session: Session, run_id: str, now: datetime) -> SyncRun | None:
    """Stop a run: a queued one is CANCELLED at once, a running one ends CANCELLED at its next heartbeat
    (what it wrote stays). Returns the run (None when unknown); a finished run is left as it is."""
    run = session.get(SyncRun, run_id)
    if run is None or run.state not in ACTIVE_STATES:
        return run
    run.cancel_requested_at = now
    if run.state == QUEUED:
        run.state = "CANCELLED"
        run.ended_at = now
    session.flush()
    return run


def cancel_active(session: Session, integration_id: str, now: datetime) -> list[SyncRun]:
    """Cancel the integration's queued or running syncs (disabling an integration does)."""
    active = session.scalars(
        select(SyncRun).where(SyncRun.integration_id == integration_id, SyncRun.state.in_(ACTIVE_STATES))
    ).all()
    return [run for run in active if request_cancel(session, run.id, now) is not None]


def save_streams(session: Session, run_id: str, streams: dict[str, Any], api_calls: int) -> None:
    """Persist the checkpoint state; called in the same transaction as the page it describes."""
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(streams=streams, api_calls=api_calls))


def finish(
    session: Session,
    run_id: str,
    *,
    state: str,
    now: datetime,
    streams: dict[str, Any],
    api_calls: int,
    error: str | None,
    warnings: list[str],
    log_id: str | None,
) -> None:
    if state not in TERMINAL_STATES:
        raise ValueError(f"not a terminal sync state: {state}")
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            state=state,
            ended_at=now,
            heartbeat_at=now,
            streams=streams,
            api_calls=api_calls,
            error=error,
            warnings=warnings,
            log_id=log_id,
        )
    )


def get_run(session: Session, run_id: str) -> SyncRun | None:
    return session.get(SyncRun, run_id)


def last_run(session: Session, integration_id: str, *, states: Sequence[str] | None = None) -> SyncRun | None:
    query = select(SyncRun).where(SyncRun.integration_id == integration_id)
    if states:
        query = query.where(SyncRun.state.in_(states))
    return session.scalars(query.order_by(SyncRun.created_at.desc()).limit(1)).first()


def last_succeeded(session: Session, integration_id: str, sync_type: str | None = None) -> SyncRun | None:
    query = select(SyncRun).where(SyncRun.integration_id == integration_id, SyncRun.state == "SUCCEEDED")
    if sync_type:
        query = query.where(SyncRun.type == sync_type)
    return session.scalars(query.order_by(SyncRun.created_at.desc()).limit(1)).first()


def list_runs(session: Session, integration_id: str | None = None, limit: int = 20) -> Sequence[SyncRun]:
    query = select(SyncRun)
    if integration_id:
        query = query.where(SyncRun.integration_id == integration_id)
    return session.scalars(query.order_by(SyncRun.created_at.desc()).limit(limit)).all()


def due_since(last: SyncRun | None, interval: timedelta, now: datetime) -> bool:
    """True when no run of that kind exists or the last one was created ``interval`` ago or more."""
    return last is None or last.created_at <= now - interval
