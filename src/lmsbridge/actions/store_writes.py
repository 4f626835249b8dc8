"""What actions write into the store at once (read-your-writes): courses they upserted or archived,
provisional and reconciled progressions. Runs in the caller's transaction; the connector's
``WriteActions`` maps what its LMS answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from lmsbridge.actions.changes import announce_changes, record_changes
from lmsbridge.connectors.base import Dto
from lmsbridge.connectors.writes import Pair, WriteActions
from lmsbridge.ids import record_id
from lmsbridge.store.upsert import fetch_existing, upsert_records
from lmsbridge.unified.records import CourseProgressionRecord, MappedRecord


def store_courses(
    session: Session,
    integration_id: str,
    writer: WriteActions,
    courses: Sequence[tuple[Dto, str | None]],
    now: datetime,
    *,
    with_provider: bool,
) -> list[str]:
    """Upsert ``(course item, origin_id)`` pairs with their revision (and, ``with_provider``, the
    connector's own course provider); returns the Kombo course ids. A known origin_id is kept when
    none is given."""
    ids = [
        record_id(integration_id, "courses", str(item.get("_id") or item.get("id"))) for item, _ in courses
    ]
    stored = fetch_existing(session, "courses", ids)
    records: list[MappedRecord] = []
    for (item, origin_id), course_id in zip(courses, ids, strict=True):
        old = stored.get(course_id)
        if origin_id is None and old is not None:
            origin_id = old.origin_id
        stored_provider = (
            _stored_provider_remote(session, old.provider_id) if old is not None and old.provider_id else None
        )
        observed = old.remote_deleted_at if old is not None and old.remote_deleted_at else now
        records += writer.course_records(
            item, origin_id, observed, stored_provider, own_provider=with_provider
        )
    models = ["courses", "course_revisions"]
    providers = writer.provider_records() if with_provider else []
    if providers:
        written = upsert_records(session, integration_id, providers, None, now)
        if written.created or written.changed:
            models.append("course_providers")
    for model in ("courses", "course_revisions"):
        upsert_records(session, integration_id, [r for r in records if r.model == model], None, now)
    # called once the LMS confirmed the write (the upsert ended, the archive answered)
    announce_changes(session, integration_id, models, now)
    return ids


def _stored_provider_remote(session: Session, provider_id: str) -> str:
    rows = fetch_existing(session, "course_providers", [provider_id])
    row = rows.get(provider_id)
    return str(row.remote_id) if row is not None else ""


def provider_remote_id(session: Session, provider_id: str | None) -> str | None:
    """The remote id of a stored course provider (None: none linked or not stored)."""
    if not provider_id:
        return None
    row = fetch_existing(session, "course_providers", [provider_id]).get(provider_id)
    return str(row.remote_id) if row is not None else None


def progression_id(integration_id: str, writer: WriteActions, pair: Pair) -> str:
    return record_id(integration_id, "course_progressions", writer.progression_remote_id(pair))


def store_progression(
    session: Session, integration_id: str, record: CourseProgressionRecord, now: datetime
) -> None:
    upsert_records(session, integration_id, [record], None, now)
    record_changes(session, integration_id, ["course_progressions"], now)


def reconcile_progressions(
    session: Session,
    integration_id: str,
    writer: WriteActions,
    found: Mapping[Pair, CourseProgressionRecord | None],
    now: datetime,
) -> None:
    """Replace provisional progressions with what the LMS shows. A pair the LMS shows no progression
    of means the enrollment did not happen: its provisional progression is marked deleted."""
    records: list[CourseProgressionRecord] = []
    ids = {pair: progression_id(integration_id, writer, pair) for pair in found}
    stored = fetch_existing(session, "course_progressions", ids.values())
    for pair, record in found.items():
        if record is not None:
            records.append(record)
            continue
        old = stored.get(ids[pair])
        if old is None or old.remote_deleted_at is not None:
            continue
        records.append(
            CourseProgressionRecord(
                remote_id=old.remote_id,
                remote_data=old.remote_data,
                remote_deleted_at=now,
                user_remote_id=pair[0],
                course_revision_remote_id=pair[1],
                course_remote_id=pair[1],
                status=old.status,
                enrolled_at=old.enrolled_at,
                completed_at=old.completed_at,
            )
        )
    if records:
        upsert_records(session, integration_id, records, None, now)
        announce_changes(session, integration_id, ["course_progressions"], now)
