"""What actions write into the store at once (read-your-writes): courses they upserted or archived,
provisional and reconciled progressions. Runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions.changes import announce_changes, record_changes
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.ids import record_id
from lmsbridge.store.upsert import fetch_existing, upsert_records
from lmsbridge.unified.records import CourseProgressionRecord, ProgressionStatus


def store_courses(
    session: Session,
    integration_id: str,
    provider: Mapping[str, Any] | None,
    courses: Sequence[tuple[Mapping[str, Any], str | None]],
    now: datetime,
) -> list[str]:
    """Upsert ``(CourseDTO, origin_id)`` pairs with their revision (and the provider integration);
    returns the Kombo course ids. A known origin_id is kept when none is given."""
    providers = mapping.ProviderIndex.from_integrations([provider] if provider else [])
    ids = [record_id(integration_id, "courses", str(dto["_id"])) for dto, _ in courses]
    stored = fetch_existing(session, "courses", ids)
    course_records, revision_records = [], []
    for (dto, origin_id), course_id in zip(courses, ids, strict=True):
        old = stored.get(course_id)
        if origin_id is None and old is not None:
            origin_id = old.origin_id
        if old is not None and old.provider_id and provider is None:
            # keep a provider the sync found (deactivate of a course of another integration)
            provider_remote = _stored_provider_remote(session, old.provider_id)
            providers = mapping.ProviderIndex(by_platform={str(dto.get("externalPlatform")): provider_remote})
        observed = old.remote_deleted_at if old is not None and old.remote_deleted_at else now
        course, revision = mapping.course_records(dto, providers, observed_at=observed, origin_id=origin_id)
        course_records.append(course)
        revision_records.append(revision)
    models = ["courses", "course_revisions"]
    if provider:
        written = upsert_records(session, integration_id, [mapping.provider_record(provider)], None, now)
        if written.created or written.changed:
            models.append("course_providers")
    upsert_records(session, integration_id, course_records, None, now)
    upsert_records(session, integration_id, revision_records, None, now)
    # called once 360Learning confirmed the write (the upsert's operation ended, the archive answered)
    announce_changes(session, integration_id, models, now)
    return ids


def _stored_provider_remote(session: Session, provider_id: str) -> str:
    rows = fetch_existing(session, "course_providers", [provider_id])
    row = rows.get(provider_id)
    return str(row.remote_id) if row is not None else ""


def progression_id(integration_id: str, user_remote_id: str, course_remote_id: str) -> str:
    remote_id = mapping.progression_remote_id(user_remote_id, course_remote_id)
    return record_id(integration_id, "course_progressions", remote_id)


def provisional_progression(
    user_remote_id: str,
    course_remote_id: str,
    *,
    attempts: Sequence[Mapping[str, Any]],
    status: ProgressionStatus,
    enrolled_at: datetime | None,
    completed_at: datetime | None,
) -> CourseProgressionRecord:
    """What an enroll or complete returns before 360Learning processed the import (same id as later)."""
    return CourseProgressionRecord(
        remote_id=mapping.progression_remote_id(user_remote_id, course_remote_id),
        remote_data={mapping.STATS_KEY: [dict(a) for a in attempts]},
        user_remote_id=user_remote_id,
        course_revision_remote_id=course_remote_id,
        course_remote_id=course_remote_id,
        status=status,
        enrolled_at=enrolled_at,
        completed_at=completed_at,
    )


def store_progression(
    session: Session, integration_id: str, record: CourseProgressionRecord, now: datetime
) -> None:
    upsert_records(session, integration_id, [record], None, now)
    record_changes(session, integration_id, ["course_progressions"], now)


def reconcile_progressions(
    session: Session,
    integration_id: str,
    attempts_by_pair: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    now: datetime,
) -> None:
    """Replace provisional progressions with what 360Learning shows. A pair without any attempt means
    the enrollment did not happen: its provisional progression is marked deleted."""
    records: list[CourseProgressionRecord] = []
    ids = {pair: progression_id(integration_id, *pair) for pair in attempts_by_pair}
    stored = fetch_existing(session, "course_progressions", ids.values())
    for pair, attempts in attempts_by_pair.items():
        if attempts:
            records.append(mapping.progression_from_attempts(pair[0], pair[1], attempts))
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
