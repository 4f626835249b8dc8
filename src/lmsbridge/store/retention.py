"""Deletion marking after a complete full scan, and anonymization of records deleted long enough ago."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam, null, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lmsbridge.store.record_specs import SPECS, RecordSpec, spec_for
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
