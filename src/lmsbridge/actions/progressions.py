"""Enroll and complete, the request side: resolve ids, refuse what the LMS cannot do, write the
provisional progression (its final id) and queue the remote write. Runs in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from lmsbridge.actions import resolve, tasks
from lmsbridge.actions.errors import ActionError
from lmsbridge.actions.store_writes import progression_id, provider_remote_id, store_progression
from lmsbridge.connectors.writes import WriteActions
from lmsbridge.store.schema import Course, CourseProgression

ASYNC_WARNING = (
    "{lms} processes {what} asynchronously (usually within 1-30 s); the progression is returned as it "
    "will be and is reconciled with what {lms} shows afterwards."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    progression_id: str
    queued: bool  # False: nothing sent (already enrolled / already completed)
    task_id: str | None = None


def _require_writable(session: Session, writer: WriteActions, course: Course, action: str) -> None:
    refusal = writer.progression_refusal(
        course.remote_data, provider_remote_id(session, course.provider_id), action
    )
    if refusal is not None:
        raise ActionError(
            "INTEGRATION.ACTION_NOT_AVAILABLE",
            f"Cannot {action} course {course.id!r} (remote id {course.remote_id}): {refusal}",
        )


def enroll(
    session: Session,
    integration_id: str,
    *,
    user_ref: str,
    revision_ref: str,
    writer: WriteActions,
    now: datetime,
) -> Outcome:
    user = resolve.user(session, integration_id, user_ref)
    revision = resolve.revision(session, integration_id, revision_ref)
    course = resolve.course_of_revision(session, revision)
    _require_writable(session, writer, course, "enroll")
    pair = (user.remote_id, course.remote_id)
    pid = progression_id(integration_id, writer, pair)
    existing = session.get(CourseProgression, pid)
    if existing is not None and existing.remote_deleted_at is None:
        return Outcome(pid, queued=False)  # already enrolled: nothing is sent
    record = writer.provisional(pair, None, status="ENROLLED", enrolled_at=now, completed_at=None)
    store_progression(session, integration_id, record, now)
    item = writer.enroll_payload(pair, now)
    task = tasks.create_task(session, integration_id, tasks.ENROLL, {"pair": list(pair), "item": item}, now)
    return Outcome(pid, queued=True, task_id=task.id)


def complete(
    session: Session,
    integration_id: str,
    *,
    progression_ref: str,
    completed_at: datetime | None,
    score: int | None,
    writer: WriteActions,
    now: datetime,
) -> Outcome:
    progression = resolve.progression(session, integration_id, progression_ref, writer)
    if progression.status == "COMPLETED":
        return Outcome(progression.id, queued=False)  # completing a completed progression is a no-op
    pair = writer.pair_of(progression.remote_id, progression.remote_data)
    course = session.get(Course, progression.course_id)
    if course is None:
        raise ActionError(
            "PLATFORM.INPUT_INVALID", f"The course of progression {progression.id!r} is not stored."
        )
    _require_writable(session, writer, course, "complete")
    when = completed_at or now
    item = writer.complete_payload(
        pair,
        progression.remote_data,
        enrolled_at=progression.enrolled_at,
        completed_at=when,
        score=score,
    )
    record = writer.provisional(
        pair,
        progression.remote_data,
        status="COMPLETED",
        enrolled_at=progression.enrolled_at or when,
        completed_at=when,
    )
    store_progression(session, integration_id, record, now)
    task = tasks.create_task(session, integration_id, tasks.COMPLETE, {"pair": list(pair), "item": item}, now)
    return Outcome(progression.id, queued=True, task_id=task.id)
