"""Resolve the ids an action receives (a Kombo id or ``remote:<360Learning id>``) to stored rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Text, select
from sqlalchemy.orm import Session

from lmsbridge.actions.errors import ActionError
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.store.schema import Course, CourseProgression, CourseRevision, RecordColumns, User

REMOTE_PREFIX = "remote:"
# longer than any stored remote id column (255)
MAX_REF = 255
RowT = TypeVar("RowT", bound=RecordColumns)


def _find(session: Session, model: type[RowT], integration_id: str, ref: str) -> RowT | None:
    column: Any = model.remote_id if ref.startswith(REMOTE_PREFIX) else model.id
    value = ref.removeprefix(REMOTE_PREFIX)
    if not value or "\x00" in value or len(value) > MAX_REF:
        return None  # cannot name a stored record (PostgreSQL rejects NUL in text parameters)
    statement = select(model).where(model.integration_id == integration_id, column == value)
    return session.scalars(statement).first()


def _missing(label: str, field: str, ref: str, *, in_path: bool) -> ActionError:
    # ids in the path name a resource (404); ids in the body are invalid input (400)
    return ActionError(
        "PLATFORM.INPUT_INVALID",
        f"No {label} with {field} {ref!r} exists in this integration (a Kombo id, or remote:<id>).",
        status=404 if in_path else 400,
    )


def _alive(row: RowT, label: str, field: str, ref: str) -> RowT:
    if row.remote_deleted_at is not None:
        raise ActionError(
            "PLATFORM.INPUT_INVALID", f"The {label} with {field} {ref!r} was deleted in 360Learning."
        )
    return row


def user(session: Session, integration_id: str, ref: str) -> User:
    row = _find(session, User, integration_id, ref)
    if row is None:
        raise _missing("user", "user_id", ref, in_path=False)
    return _alive(row, "user", "user_id", ref)


def revision(session: Session, integration_id: str, ref: str) -> CourseRevision:
    row = _find(session, CourseRevision, integration_id, ref)
    if row is None:
        raise _missing("course revision", "course_revision_id", ref, in_path=False)
    return _alive(row, "course revision", "course_revision_id", ref)


def course(session: Session, integration_id: str, ref: str) -> Course:
    row = _find(session, Course, integration_id, ref)
    if row is None:
        raise _missing("course", "course_id", ref, in_path=True)
    return _alive(row, "course", "course_id", ref)


def progression(session: Session, integration_id: str, ref: str) -> CourseProgression:
    row = _find(session, CourseProgression, integration_id, ref)
    if row is None and ref.startswith(REMOTE_PREFIX):
        # a remote id of one attempt (what 360Learning calls it) resolves to its (user, course) pair
        row = _by_attempt(session, integration_id, ref.removeprefix(REMOTE_PREFIX))
    if row is None:
        raise _missing("course progression", "course_progression_id", ref, in_path=True)
    return _alive(row, "course progression", "course_progression_id", ref)


def _by_attempt(session: Session, integration_id: str, attempt_id: str) -> CourseProgression | None:
    if ":" in attempt_id or not attempt_id or "\x00" in attempt_id or len(attempt_id) > MAX_REF:
        return None
    # attempts live in remote_data; a JSON containment query differs per backend, so scan by text
    pattern = f'%"{attempt_id}"%'
    candidates = session.scalars(
        select(CourseProgression).where(
            CourseProgression.integration_id == integration_id,
            CourseProgression.remote_data.cast(Text()).like(pattern),
        )
    )
    for row in candidates:
        if any(str(a.get("_id")) == attempt_id for a in mapping.attempts_from_remote_data(row.remote_data)):
            return row
    return None


def course_of_revision(session: Session, revision_row: CourseRevision) -> Course:
    row = session.get(Course, revision_row.course_id)
    if row is None:
        raise ActionError(
            "PLATFORM.INPUT_INVALID", f"The course of revision {revision_row.id!r} is not in the store."
        )
    return row
