"""Read queries of the API: keyset pages (ordered by id, no OFFSET) with Kombo's list filters.

A page is ``WHERE integration_id = :i AND id > :after ORDER BY id LIMIT n``: ids never change, so a walk
returns every pre-existing matching record exactly once even while syncs upsert between pages.
Nested rows are loaded with one query per relation for the whole page (no N+1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, select
from sqlalchemy.orm import Session, load_only

from lmsbridge.store.schema import (
    Course,
    CourseProgression,
    CourseProvider,
    CourseRevision,
    RecordColumns,
    Skill,
    User,
)

RowT = TypeVar("RowT", bound=RecordColumns)
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class ListFilters:
    """Kombo's list filters, parsed. ``None`` = filter absent; an empty tuple matches nothing.

    Across filters: AND; within one multi-valued filter: OR.
    """

    updated_after: datetime | None = None
    include_deleted: bool = False
    ids: tuple[str, ...] | None = None
    remote_ids: tuple[str, ...] | None = None
    work_emails: tuple[str, ...] | None = None  # compared lower-cased
    user_ids: tuple[str, ...] | None = None
    course_ids: tuple[str, ...] | None = None
    # set when a filter targets a field the connector does not fill and the caller did not ask to ignore it
    match_nothing: bool = False

    def fingerprint(self) -> dict[str, Any]:
        """A canonical, JSON-able form: equal filters give equal fingerprints (binds cursors to filters)."""

        def canon(values: tuple[str, ...] | None) -> list[str] | None:
            return None if values is None else sorted(set(values))

        return {
            "updated_after": None if self.updated_after is None else self.updated_after.isoformat(),
            "include_deleted": self.include_deleted,
            "ids": canon(self.ids),
            "remote_ids": canon(self.remote_ids),
            "work_emails": canon(self.work_emails),
            "user_ids": canon(self.user_ids),
            "course_ids": canon(self.course_ids),
            "match_nothing": self.match_nothing,
        }


@dataclass(frozen=True)
class CourseItem:
    course: Course
    provider: CourseProvider | None
    revisions: list[CourseRevision]


@dataclass(frozen=True)
class ProgressionItem:
    progression: CourseProgression
    user: User
    revision: CourseRevision
    course: Course | None


@dataclass(frozen=True)
class PageOf(Generic[ItemT]):
    items: list[ItemT]
    # id of the last item when more rows follow (the keyset position of the next page), else None
    next_after: str | None


def _common_where(
    model: type[RowT], integration_id: str, filters: ListFilters, after: str | None, changed_column: Any
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [model.integration_id == integration_id]
    if filters.match_nothing:
        where.append(false())
    if after is not None:
        where.append(model.id > after)
    if not filters.include_deleted:
        where.append(model.remote_deleted_at.is_(None))
    if filters.updated_after is not None:
        where.append(changed_column > filters.updated_after)
    if filters.ids is not None:
        where.append(model.id.in_(filters.ids))
    if filters.remote_ids is not None:
        where.append(model.remote_id.in_(filters.remote_ids))
    return where


def _page(session: Session, stmt: Select[Any], model: type[RowT], limit: int) -> PageOf[RowT]:
    rows: list[RowT] = list(session.scalars(stmt.order_by(model.id).limit(limit + 1)))
    if len(rows) > limit:
        return PageOf(items=rows[:limit], next_after=rows[limit - 1].id)
    return PageOf(items=rows, next_after=None)


def list_users(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[User]:
    where = _common_where(User, integration_id, filters, after, User.changed_at)
    if filters.work_emails is not None:
        where.append(User.work_email_lower.in_([email.lower() for email in filters.work_emails]))
    return _page(session, select(User).where(and_(*where)), User, limit)


def list_skills(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[Skill]:
    where = _common_where(Skill, integration_id, filters, after, Skill.changed_at)
    return _page(session, select(Skill).where(and_(*where)), Skill, limit)


def list_courses(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[CourseItem]:
    # updated_after on courses follows nested revisions (spec table): tree_changed_at covers both
    where = _common_where(Course, integration_id, filters, after, Course.tree_changed_at)
    page = _page(session, select(Course).where(and_(*where)), Course, limit)
    courses = page.items
    revisions_by_course: dict[str, list[CourseRevision]] = {course.id: [] for course in courses}
    if courses:
        rev_where: list[ColumnElement[bool]] = [
            CourseRevision.integration_id == integration_id,
            CourseRevision.course_id.in_(list(revisions_by_course)),
        ]
        if not filters.include_deleted:
            rev_where.append(CourseRevision.remote_deleted_at.is_(None))
        for revision in session.scalars(select(CourseRevision).where(*rev_where).order_by(CourseRevision.id)):
            revisions_by_course[revision.course_id].append(revision)
    providers = _by_id(
        session, CourseProvider, integration_id, (c.provider_id for c in courses), ("remote_id", "name")
    )
    items = [
        CourseItem(
            course=course,
            provider=providers.get(course.provider_id) if course.provider_id else None,
            revisions=revisions_by_course[course.id],
        )
        for course in courses
    ]
    return PageOf(items=items, next_after=page.next_after)


def list_course_progressions(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[ProgressionItem]:
    cp = CourseProgression
    where = _common_where(cp, integration_id, filters, after, cp.changed_at)
    if filters.user_ids is not None:
        where.append(cp.user_id.in_(filters.user_ids))
    if filters.course_ids is not None:
        where.append(cp.course_id.in_(filters.course_ids))
    # The wire shape nests a non-null user and revision: a progression whose references do not resolve
    # (yet) is not served, so every page is consistent with the walk (the per-model tests report such rows).
    where.append(exists().where(User.integration_id == integration_id, User.id == cp.user_id))
    where.append(
        exists().where(
            CourseRevision.integration_id == integration_id, CourseRevision.id == cp.course_revision_id
        )
    )
    page = _page(session, select(cp).where(and_(*where)), cp, limit)
    progressions = page.items
    # the nested user, revision and course show a few fields: their remote_data is not loaded
    users = _by_id(
        session,
        User,
        integration_id,
        (p.user_id for p in progressions),
        ("remote_id", "first_name", "last_name", "work_email"),
    )
    revisions = _by_id(
        session,
        CourseRevision,
        integration_id,
        (p.course_revision_id for p in progressions),
        ("remote_id", "title", "course_id"),
    )
    courses = _by_id(
        session, Course, integration_id, (r.course_id for r in revisions.values()), ("remote_id",)
    )
    items = []
    for progression in progressions:
        user = users.get(progression.user_id)
        revision = revisions.get(progression.course_revision_id)
        if user is None or revision is None:  # removed between the page query and this one
            continue
        items.append(
            ProgressionItem(
                progression=progression, user=user, revision=revision, course=courses.get(revision.course_id)
            )
        )
    return PageOf(items=items, next_after=page.next_after)


def _by_id(
    session: Session,
    model: type[RowT],
    integration_id: str,
    ids: Iterable[str | None],
    columns: Sequence[str] | None = None,
) -> dict[str, RowT]:
    """Rows of ``model`` by id; with ``columns`` only those (and the id) are loaded."""
    wanted = sorted({value for value in ids if value})
    if not wanted:
        return {}
    stmt = select(model).where(model.integration_id == integration_id, model.id.in_(wanted))
    if columns is not None:
        stmt = stmt.options(load_only(*(getattr(model, name) for name in columns), raiseload=True))
    return {row.id: row for row in session.scalars(stmt)}
