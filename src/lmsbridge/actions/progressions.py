"""Enroll and complete, the request side: resolve ids, refuse what 360Learning cannot do, write the
provisional progression (its final id) and queue the statistics import. Runs in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions import resolve, tasks
from lmsbridge.actions.errors import ActionError
from lmsbridge.actions.store_writes import progression_id, provisional_progression, store_progression
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.connectors.learning360 import write_mapping as wm
from lmsbridge.ids import record_id
from lmsbridge.store.schema import Course, CourseProgression

ASYNC_WARNING = (
    "360Learning processes {what} asynchronously (a bulk statistics import, usually within 1-30 s); "
    "the progression is returned as it will be and is reconciled with 360Learning's attempt afterwards."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    progression_id: str
    queued: bool  # False: nothing sent (already enrolled / already completed)
    task_id: str | None = None


def _require_own_external(
    session: Session, integration_id: str, course: Course, provider: Mapping[str, Any], action: str
) -> None:
    """Only external courses of the connector's own 360Learning integration accept statistics imports."""
    dto = (course.remote_data or {}).get(mapping.COURSES_KEY) or {}
    platform = provider.get("externalPlatform")
    if dto.get("type") != "external":
        kind = str(dto.get("type") or "native")
        raise ActionError(
            "INTEGRATION.ACTION_NOT_AVAILABLE",
            f"Cannot {action} course {course.id!r} (remote id {course.remote_id}): it is a {kind} "
            f"360Learning course, and 360Learning's API v2 can {action} users only in external courses "
            f"of lmsbridge's own integration {platform!r} (upsert courses through POST /lms/courses/bulk).",
        )
    own_provider = record_id(integration_id, "course_providers", str(provider.get("_id")))
    ours = course.provider_id == own_provider or (
        dto.get("externalPlatform") == platform and dto.get("groupId") == provider.get("groupId")
    )
    if not ours:
        raise ActionError(
            "INTEGRATION.ACTION_NOT_AVAILABLE",
            f"Cannot {action} course {course.id!r} (remote id {course.remote_id}): it is an external course "
            f"of the 360Learning integration {dto.get('externalPlatform')!r}, and 360Learning accepts "
            f"statistics only for courses of lmsbridge's own integration {platform!r}.",
        )


def enroll(
    session: Session,
    integration_id: str,
    *,
    user_ref: str,
    revision_ref: str,
    provider: Mapping[str, Any],
    now: datetime,
) -> Outcome:
    user = resolve.user(session, integration_id, user_ref)
    revision = resolve.revision(session, integration_id, revision_ref)
    course = resolve.course_of_revision(session, revision)
    _require_own_external(session, integration_id, course, provider, "enroll")
    pid = progression_id(integration_id, user.remote_id, course.remote_id)
    existing = session.get(CourseProgression, pid)
    if existing is not None and existing.remote_deleted_at is None:
        return Outcome(pid, queued=False)  # already enrolled: nothing is sent
    record = provisional_progression(
        user.remote_id, course.remote_id, attempts=[], status="ENROLLED", enrolled_at=now, completed_at=None
    )
    store_progression(session, integration_id, record, now)
    item = wm.enroll_stat_item(user.remote_id, course.remote_id, now)
    task = tasks.create_task(
        session, integration_id, tasks.ENROLL, {"pair": [user.remote_id, course.remote_id], "item": item}, now
    )
    return Outcome(pid, queued=True, task_id=task.id)


def complete(
    session: Session,
    integration_id: str,
    *,
    progression_ref: str,
    completed_at: datetime | None,
    score: int | None,
    provider: Mapping[str, Any],
    now: datetime,
) -> Outcome:
    progression = resolve.progression(session, integration_id, progression_ref)
    if progression.status == "COMPLETED":
        return Outcome(progression.id, queued=False)  # completing a completed progression is a no-op
    user_remote, course_remote = mapping.split_progression_remote_id(progression.remote_id)
    course = session.get(Course, progression.course_id)
    if course is None:
        raise ActionError(
            "PLATFORM.INPUT_INVALID", f"The course of progression {progression.id!r} is not stored."
        )
    _require_own_external(session, integration_id, course, provider, "complete")
    when = completed_at or now
    attempts = mapping.attempts_from_remote_data(progression.remote_data)
    item = wm.complete_stat_item(
        user_remote,
        course_remote,
        attempts=attempts,
        enrolled_at=progression.enrolled_at,
        completed_at=when,
        score=score,
    )
    record = provisional_progression(
        user_remote,
        course_remote,
        attempts=attempts,
        status="COMPLETED",
        enrolled_at=progression.enrolled_at or when,
        completed_at=when,
    )
    store_progression(session, integration_id, record, now)
    task = tasks.create_task(
        session, integration_id, tasks.COMPLETE, {"pair": [user_remote, course_remote], "item": item}, now
    )
    return Outcome(progression.id, queued=True, task_id=task.id)
