"""Read queries of the API: keyset pages (ordered by id, no OFFSET) with Kombo's list filters.

A page is ``WHERE integration_id = :i AND id > :after ORDER BY id LIMIT n``: ids never change, so a walk
returns every pre-existing matching record exactly once even while syncs upsert between pages.
Nested rows are loaded with one query per relation for the whole page (no N+1), or joined into the
page's query where the wire shows only a few of their fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    String,
    Text,
    and_,
    false,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, load_only
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
class PageOf(Generic[ItemT]):
    items: list[ItemT]
    # id of the last item when more rows follow (the keyset position of the next page), else None
    next_after: str | None


def _common_where(  # model: an ORM class, or a table's columns (`Table.c`)
    model: Any, integration_id: str, filters: ListFilters, after: str | None, changed_column: Any
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


class JsonText(FunctionElement[str]):
    """A JSON column's stored text, never decoded: as is on SQLite (where it is text already, and a CAST
    copies every value), ``CAST(… AS TEXT)`` elsewhere (psycopg would decode json into objects)."""

    type = Text()
    inherit_cache = True


@compiles(JsonText)
def _json_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(JsonText, "sqlite")
def _json_text_sqlite(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def stored_text(column: Any) -> Any:
    """``column`` as the database hands it over, without the ORM's conversion (``UTCDateTime``): SQLite
    gives its stored text, PostgreSQL still a datetime (the driver types it). ``serialize.timestamp``
    formats both; converting through datetime objects cost more than the rest of a row's rendering."""
    return type_coerce(column, String).label(column.key)


def list_course_progressions(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[RowMapping]:
    """One Core query per page (the ORM's row loading cost more than the query): the page of
    progressions, each with the few fields the wire shows of its user, revision and course, and
    ``remote_data`` as the stored JSON text (served as is, never decoded).

    The page is a subquery LEFT JOINed to the rest: the left side of a LEFT JOIN stays the outer loop,
    so SQLite always walks the page's index (with inner joins its planner may drive from ``lms_users``).
    The wire shape nests a non-null user and revision, so a progression whose references do not resolve
    (yet) is left out; its page is then shorter (the per-model tests report such rows)."""
    cp_table, user_table = CourseProgression.__table__, User.__table__
    revision_table, course_table = CourseRevision.__table__, Course.__table__
    cp, user, revision, course = cp_table.c, user_table.c, revision_table.c, course_table.c
    where = _common_where(cp, integration_id, filters, after, cp.changed_at)
    if filters.user_ids is not None:
        where.append(cp.user_id.in_(filters.user_ids))
    if filters.course_ids is not None:
        where.append(cp.course_id.in_(filters.course_ids))
    page = (
        select(
            cp.id,
            cp.remote_id,
            cp.user_id,
            cp.course_revision_id,
            cp.status,
            stored_text(cp.enrolled_at),
            stored_text(cp.completed_at),
            stored_text(cp.changed_at),
            stored_text(cp.remote_deleted_at),
            JsonText(cp.remote_data).label("remote_data_json"),
        )
        .where(and_(*where))
        .order_by(cp.id)
        .limit(limit + 1)
        .subquery("page")
    )
    query = select(
        page,
        user.id.label("user_found"),
        user.remote_id.label("user_remote_id"),
        user.first_name.label("user_first_name"),
        user.last_name.label("user_last_name"),
        user.work_email.label("user_work_email"),
        revision.id.label("revision_found"),
        revision.remote_id.label("revision_remote_id"),
        revision.title.label("revision_title"),
        revision.course_id.label("course_id"),
        course.remote_id.label("course_remote_id"),
    ).select_from(
        page.outerjoin(user_table, and_(user.integration_id == integration_id, user.id == page.c.user_id))
        .outerjoin(
            revision_table,
            and_(revision.integration_id == integration_id, revision.id == page.c.course_revision_id),
        )
        .outerjoin(
            course_table, and_(course.integration_id == integration_id, course.id == revision.course_id)
        )
    )
    # sorted here: an ORDER BY on the joined rows made SQLite sort them in a temporary B-tree
    rows = sorted(session.execute(query).mappings(), key=itemgetter("id"))
    next_after = rows[limit - 1]["id"] if len(rows) > limit else None
    items = [
        row for row in rows[:limit] if row["user_found"] is not None and row["revision_found"] is not None
    ]
    return PageOf(items=items, next_after=next_after)


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
