"""Resolve the ids an action receives (a Kombo id or ``remote:<the LMS's id>``) to stored rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Text, select
from sqlalchemy.orm import Session

from lmsbridge.actions.errors import ActionError
from lmsbridge.connectors.writes import WriteActions
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
            "PLATFORM.INPUT_INVALID", f"The {label} with {field} {ref!r} was deleted in the LMS."
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


def progression(
    session: Session, integration_id: str, ref: str, writer: WriteActions | None = None
) -> CourseProgression:
    row = _find(session, CourseProgression, integration_id, ref)
    if row is None and ref.startswith(REMOTE_PREFIX) and writer is not None:
        # another remote id the connector says names a progression (e.g. one of its attempts)
        row = _by_part(session, integration_id, ref.removeprefix(REMOTE_PREFIX), writer)
    if row is None:
        raise _missing("course progression", "course_progression_id", ref, in_path=True)
    return _alive(row, "course progression", "course_progression_id", ref)


def _by_part(
    session: Session, integration_id: str, part_id: str, writer: WriteActions
) -> CourseProgression | None:
    if ":" in part_id or not part_id or "\x00" in part_id or len(part_id) > MAX_REF:
        return None
    # parts live in remote_data; a JSON containment query differs per backend, so scan by text
    pattern = f'%"{part_id}"%'
    candidates = session.scalars(
        select(CourseProgression).where(
            CourseProgression.integration_id == integration_id,
            CourseProgression.remote_data.cast(Text()).like(pattern),
        )
    )
    for row in candidates:
        if writer.matches_ref(row.remote_data, part_id):
            return row
    return None


def course_of_revision(session: Session, revision_row: CourseRevision) -> Course:
    row = session.get(Course, revision_row.course_id)
    if row is None:
        raise ActionError(
            "PLATFORM.INPUT_INVALID", f"The course of revision {revision_row.id!r} is not in the store."
        )
    return row
