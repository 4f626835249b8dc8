"""Read queries of the API: keyset pages (ordered by id, no OFFSET) with Kombo's list filters.

A page is ``WHERE integration_id = :i AND id > :after ORDER BY id LIMIT n``: ids never change, so a walk
returns every pre-existing matching record exactly once even while syncs upsert between pages.
Nested rows are loaded with one query per relation for the whole page (no N+1), or joined into the
page's query where the wire shows only a few of their fields.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, false, select, text
from sqlalchemy.orm import Session, load_only

from lmsbridge.ids import record_id
from lmsbridge.store.schema import (
    Course,
    CourseProgression,
    CourseProvider,
    CourseRevision,
    RecordColumns,
    Skill,
    User,
)
from lmsbridge.store.sql_json import EmbeddedJson, JsonObject, JsonText, WireTimestamp, json_or_null

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


def _bound_values(
    name: str, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> dict[str, Any]:
    """The values of a list query's bind parameters (``_common_where``'s and the extra filters'): a key
    is present exactly when its filter is, so the keys also name the statement's shape."""
    values: dict[str, Any] = {"integration_id": integration_id, "limit": limit + 1}
    if after is not None:
        values["after"] = after
    if filters.updated_after is not None:
        values["updated_after"] = filters.updated_after
    if filters.ids is not None:
        values["ids"] = list(filters.ids)
    if filters.remote_ids is not None:
        values["remote_ids"] = list(filters.remote_ids)
        # by primary key: a record's id is derived from its remote id (no index on remote_id)
        values["remote_record_ids"] = [record_id(integration_id, name, r) for r in filters.remote_ids]
    if filters.work_emails is not None:
        values["work_emails"] = [email.lower() for email in filters.work_emails]
    if filters.user_ids is not None:
        values["user_ids"] = list(filters.user_ids)
    if filters.course_ids is not None:
        values["course_ids"] = list(filters.course_ids)
    return values


def _common_where(  # model: an ORM class, or a table's columns (`Table.c`)
    model: Any, bound: Collection[str], include_deleted: bool, match_nothing: bool, changed_column: Any
) -> list[ColumnElement[bool]]:
    """Kombo's common list filters over the bind parameters named in ``bound`` (``_bound_values``)."""
    where: list[ColumnElement[bool]] = [model.integration_id == bindparam("integration_id")]
    if match_nothing:
        where.append(false())
    if "after" in bound:
        where.append(model.id > bindparam("after"))
    if not include_deleted:
        where.append(model.remote_deleted_at.is_(None))
    if "updated_after" in bound:
        where.append(changed_column > bindparam("updated_after"))
    if "ids" in bound:
        where.append(model.id.in_(bindparam("ids", expanding=True)))
    if "remote_ids" in bound:
        where.append(model.id.in_(bindparam("remote_record_ids", expanding=True)))
        where.append(model.remote_id.in_(bindparam("remote_ids", expanding=True)))
    return where


def _list_where(
    model: Any,
    name: str,
    changed_column: Any,
    integration_id: str,
    filters: ListFilters,
    after: str | None,
    limit: int,
) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """``_common_where`` for this request, and the values to bind."""
    values = _bound_values(name, integration_id, filters, after, limit)
    where = _common_where(model, values, filters.include_deleted, filters.match_nothing, changed_column)
    return where, values


def _page(
    session: Session, stmt: Select[Any], model: type[RowT], values: dict[str, Any], limit: int
) -> PageOf[RowT]:
    rows: list[RowT] = list(session.scalars(stmt.order_by(model.id).limit(bindparam("limit")), values))
    if len(rows) > limit:
        return PageOf(items=rows[:limit], next_after=rows[limit - 1].id)
    return PageOf(items=rows, next_after=None)


def list_users(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[User]:
    where, values = _list_where(User, "users", User.changed_at, integration_id, filters, after, limit)
    if "work_emails" in values:
        where.append(User.work_email_lower.in_(bindparam("work_emails", expanding=True)))
    return _page(session, select(User).where(and_(*where)), User, values, limit)


def list_skills(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[Skill]:
    where, values = _list_where(Skill, "skills", Skill.changed_at, integration_id, filters, after, limit)
    return _page(session, select(Skill).where(and_(*where)), Skill, values, limit)


def list_courses(
    session: Session, integration_id: str, filters: ListFilters, after: str | None, limit: int
) -> PageOf[CourseItem]:
    # updated_after on courses follows nested revisions (spec table): tree_changed_at covers both
    changed = Course.tree_changed_at
    where, values = _list_where(Course, "courses", changed, integration_id, filters, after, limit)
    page = _page(session, select(Course).where(and_(*where)), Course, values, limit)
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
) -> PageOf[str]:
    """A page of progressions, each as the JSON text of the wire's ``CourseProgression`` (field for field
    the pydantic model, which documents it), rendered by the database: this is the hottest read path.

    One query: the page is a subquery LEFT JOINed to the user, revision and course the wire nests a few
    fields of (the left side of a LEFT JOIN stays the outer loop, so SQLite always walks the page's
    index; with inner joins its planner may drive from ``lms_users``). The wire nests a non-null user and
    revision, so a progression whose references do not resolve (yet) is left out; its page is then
    shorter (the per-model tests report such rows)."""
    values = _bound_values("course_progressions", integration_id, filters, after, limit)
    query = _progressions_query(frozenset(values), filters.include_deleted, filters.match_nothing)
    _join_by_index_lookups(session)
    # sorted here: an ORDER BY on the joined rows made SQLite sort them in a temporary B-tree
    rows = sorted(session.execute(query, values).all(), key=itemgetter(0))
    next_after = rows[limit - 1][0] if len(rows) > limit else None
    return PageOf(items=[text for _, text, complete in rows[:limit] if complete], next_after=next_after)


def _join_by_index_lookups(session: Session) -> None:
    """On PostgreSQL, this transaction joins a page's few rows to the tables it nests by primary-key
    lookups: on a large store the planner otherwise hashes the whole revisions table for every page
    (benchmarks/README.md, figure 6 on tenant L)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_hashjoin = off"))


@functools.lru_cache(maxsize=256)
def _progressions_query(bound: frozenset[str], include_deleted: bool, match_nothing: bool) -> Select[Any]:
    """The statement of a progressions page with these filters present (their values are bound): built
    once per shape, as building and keying it is a noticeable share of a page's time."""
    cp_table, user_table = CourseProgression.__table__, User.__table__
    revision_table, course_table = CourseRevision.__table__, Course.__table__
    cp, user, revision, course = cp_table.c, user_table.c, revision_table.c, course_table.c
    where = _common_where(cp, bound, include_deleted, match_nothing, cp.changed_at)
    if "user_ids" in bound:
        where.append(cp.user_id.in_(bindparam("user_ids", expanding=True)))
    if "course_ids" in bound:
        where.append(cp.course_id.in_(bindparam("course_ids", expanding=True)))
    shown = (cp.id, cp.remote_id, cp.user_id, cp.course_revision_id, cp.status, cp.remote_data)
    timestamps = (cp.enrolled_at, cp.completed_at, cp.changed_at, cp.remote_deleted_at)
    page = (
        select(*shown, *timestamps)
        .where(and_(*where))
        .order_by(cp.id)
        .limit(bindparam("limit"))
        .subquery("page")
    )
    item = JsonObject(
        {
            "id": page.c.id,
            "remote_id": page.c.remote_id,
            "user_id": page.c.user_id,
            "course_revision_id": page.c.course_revision_id,
            "status": page.c.status,
            "enrolled_at": WireTimestamp(page.c.enrolled_at),
            "completed_at": WireTimestamp(page.c.completed_at),
            "changed_at": WireTimestamp(page.c.changed_at),
            "remote_deleted_at": WireTimestamp(page.c.remote_deleted_at),
            "remote_data": EmbeddedJson(page.c.remote_data),
            "user": JsonObject(
                {
                    "id": user.id,
                    "remote_id": user.remote_id,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "work_email": user.work_email,
                }
            ),
            "course_revision": JsonObject(
                {
                    "id": revision.id,
                    "remote_id": revision.remote_id,
                    "title": revision.title,
                    "course": json_or_null(
                        course.remote_id.is_not(None),
                        JsonObject({"id": revision.course_id, "remote_id": course.remote_id}),
                    ),
                }
            ),
        }
    )
    integration_id: BindParameter[str] = bindparam("integration_id")
    return select(
        page.c.id, JsonText(item), and_(user.id.is_not(None), revision.id.is_not(None))
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
