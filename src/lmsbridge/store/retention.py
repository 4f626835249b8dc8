"""Deletion marking after a complete full scan, anonymization of records deleted long enough ago, and
pruning of old history (interaction logs, sync runs, webhook events)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, delete, exists, func, null, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lmsbridge.settings import Settings
from lmsbridge.store.record_specs import SPECS, RecordSpec, spec_for
from lmsbridge.store.schema import InteractionLog, SyncRun, WebhookDelivery, WebhookEvent
from lmsbridge.store.upsert import bump_course_trees

# Rows handled per statement batch: constant memory however many records a scan stopped returning.
BATCH = 1000
# DESIGN §4: deleted records keep their fields for 14 days, then are anonymized.
ANONYMIZE_AFTER = timedelta(days=14)


def mark_unseen_deleted(
    session: Session, integration_id: str, model: str, sync_run_id: str, now: datetime
) -> int:
    """Mark as deleted every live record of ``model`` that run ``sync_run_id`` did not see.

    Call only after a *complete* full scan of the model's stream: a partial or failed scan would
    delete what it merely did not reach. Returns the number of records marked.
    """
    spec = spec_for(model)
    table = spec.table
    unseen = (
        table.c.integration_id == integration_id,
        table.c.remote_deleted_at.is_(None),
        or_(table.c.last_seen_sync_id.is_(None), table.c.last_seen_sync_id != sync_run_id),
    )
    marked = 0
    for rows in _batches(session, table, unseen):
        params = []
        for row in rows:
            values = dict(row._mapping)
            values["remote_deleted_at"] = now
            params.append({"b_id": row.id, "b_hash": spec.hash_row(values)})
        extra: dict[str, Any] = {"tree_changed_at": now} if model == "courses" else {}
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(content_hash=bindparam("b_hash"), remote_deleted_at=now, changed_at=now, **extra),
            params,
        )
        if model == "course_revisions":
            bump_course_trees(session, {row.course_id for row in rows}, now)
        marked += len(rows)
    return marked


def anonymize_expired(session: Session, now: datetime, older_than: timedelta = ANONYMIZE_AFTER) -> int:
    """Null the mapped fields and remote_data of records deleted before ``now - older_than`` (all
    integrations); ids, remote ids and timestamps stay. ``changed_at`` does not move: the deletion was
    already announced. Returns the number of records anonymized."""
    cutoff = now - older_than
    total = 0
    for spec in SPECS.values():
        table = spec.table
        expired = (table.c.remote_deleted_at <= cutoff, table.c.anonymized_at.is_(None))
        cleared = _nullable_content(spec)
        for rows in _batches(session, table, expired):
            params = []
            for row in rows:
                values = dict(row._mapping)
                values.update(dict.fromkeys(cleared))
                values["remote_data"] = None
                params.append({"b_id": row.id, "b_hash": spec.hash_row(values)})
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    content_hash=bindparam("b_hash"),
                    remote_data=null(),
                    anonymized_at=now,
                    **dict.fromkeys(cleared, None),
                ),
                params,
            )
            total += len(rows)
    return total


def _nullable_content(spec: RecordSpec) -> tuple[str, ...]:
    # References that are NOT NULL (a progression's user_id, …) are Kombo ids, not personal data: kept.
    return tuple(name for name in spec.columns if spec.table.c[name].nullable)


def _batches(
    session: Session, table: Table, where: tuple[ColumnElement[bool], ...]
) -> Iterator[list[Row[Any]]]:
    """Matching rows in id order, BATCH at a time (keyset: rows updated meanwhile are not revisited)."""
    after = ""
    while True:
        rows = list(
            session.execute(select(table).where(*where, table.c.id > after).order_by(table.c.id).limit(BATCH))
        )
        if not rows:
            return
        yield rows
        after = rows[-1].id


# ---- history: interaction logs, sync runs, webhook events ---------------------------------------------

# A sync run is kept, however old, while it is one of its integration's latest this many: the
# integration page, `lmsbridge syncs` and freshness read them.
KEEP_RUNS_PER_INTEGRATION = 20
_ENDED_STATES = ("SUCCEEDED", "FAILED", "PARTIALLY_FAILED", "AUTHENTICATION_FAILED", "CANCELLED", "TIMED_OUT")


@dataclass(frozen=True)
class HistoryRetention:
    """How long history is kept (``LMSBRIDGE_*_RETENTION_DAYS``); 0 days keeps it forever."""

    interaction_logs: timedelta
    sync_runs: timedelta
    webhook_events: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> HistoryRetention:
        return cls(
            interaction_logs=timedelta(days=settings.interaction_log_retention_days),
            sync_runs=timedelta(days=settings.sync_run_retention_days),
            webhook_events=timedelta(days=settings.webhook_event_retention_days),
        )


def prune_history(session: Session, now: datetime, retention: HistoryRetention) -> dict[str, int]:
    """Delete interaction logs, ended sync runs and delivered webhook events older than their retention.

    A sync run among its integration's latest ``KEEP_RUNS_PER_INTEGRATION`` stays, as does a queued or
    running one; a webhook event stays while a delivery of it is pending (its deliveries go with it).
    Deletes in batches of ``BATCH`` rows. Returns the number of rows deleted per kind. Meant to run
    periodically (the job system schedules it), in its own transaction.
    """
    counts = {"interaction_logs": 0, "sync_runs": 0, "webhook_events": 0}
    if retention.interaction_logs > timedelta(0):
        old_logs = select(InteractionLog.id).where(
            InteractionLog.created_at < now - retention.interaction_logs
        )
        counts["interaction_logs"] = _delete_in_batches(session, InteractionLog.__table__, old_logs)
    if retention.sync_runs > timedelta(0):
        rank = (
            func.row_number()
            .over(
                partition_by=SyncRun.integration_id, order_by=(SyncRun.created_at.desc(), SyncRun.id.desc())
            )
            .label("rank")
        )
        ranked = select(SyncRun.id, rank).subquery()
        recent = select(ranked.c.id).where(ranked.c.rank <= KEEP_RUNS_PER_INTEGRATION)
        old_runs = select(SyncRun.id).where(
            SyncRun.state.in_(_ENDED_STATES),
            func.coalesce(SyncRun.ended_at, SyncRun.created_at) < now - retention.sync_runs,
            SyncRun.id.not_in(recent),
        )
        counts["sync_runs"] = _delete_in_batches(session, SyncRun.__table__, old_runs)
    if retention.webhook_events > timedelta(0):
        waiting = exists().where(
            WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.state == "PENDING"
        )
        old_events = select(WebhookEvent.id).where(
            WebhookEvent.created_at < now - retention.webhook_events, ~waiting
        )
        counts["webhook_events"] = _delete_in_batches(
            session, WebhookEvent.__table__, old_events, dependents=(WebhookDelivery.__table__.c.event_id,)
        )
    return counts


def _delete_in_batches(
    session: Session, table: Any, ids: Select[Any], dependents: tuple[Any, ...] = ()
) -> int:
    deleted = 0
    while True:
        chunk = list(session.scalars(ids.limit(BATCH)))
        if not chunk:
            return deleted
        for column in dependents:  # rows referencing these (no reliance on ON DELETE CASCADE)
            session.execute(delete(column.table).where(column.in_(chunk)))
        session.execute(delete(table).where(table.c.id.in_(chunk)))
        deleted += len(chunk)
