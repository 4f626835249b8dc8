"""Page sources for every list endpoint: walk pre-sorted records from a bisect position, peek one ahead.

Work per page is proportional to the rows examined, never to the tenant: attempts filtered by
course or user walk the per-course/per-user row indices, `completedAt` filters walk completed rows.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from lmsbridge.sandbox.learning360.attempts import NONE
from lmsbridge.sandbox.learning360.errors import bad_request
from lmsbridge.sandbox.learning360.query import Filters, match_value
from lmsbridge.sandbox.learning360.tenant import Collection, Tenant

Row = dict[str, Any]


def take(candidates: Iterable[Any], keep: Callable[[Any], bool], size: int) -> tuple[list[Any], bool]:
    """Up to `size` candidates passing `keep`, and whether another one exists (the peek ahead)."""
    out: list[Any] = []
    for item in candidates:
        if keep(item):
            if len(out) == size:
                return out, True
            out.append(item)
    return out, False


def collection_page(
    coll: Collection[Any],
    filters: Filters,
    after: str | None,
    size: int,
    value: Callable[[Any, str], Any] | None = None,
) -> tuple[list[Row], str | None]:
    get = value or (lambda item, name: item.get(name))
    checks = list(filters.items())

    def keep(item: Any) -> bool:
        return item is not None and all(match_value(get(item, name), ops) for name, ops in checks)

    rows, more = take(islice(coll.items, coll.start_after(after), None), keep, size)
    return rows, (rows[-1]["_id"] if more and rows else None)


def users_page(
    tenant: Tenant, filters: Filters, after: str | None, size: int
) -> tuple[list[Row], str | None]:
    return collection_page(tenant.users, filters, after, size)


def integrations_page(
    tenant: Tenant, filters: Filters, after: str | None, size: int
) -> tuple[list[Row], str | None]:
    return collection_page(tenant.integrations, filters, after, size)


def groups_page(
    tenant: Tenant, filters: Filters, after: str | None, size: int
) -> tuple[list[Row], str | None]:
    return collection_page(tenant.groups, filters, after, size)


def courses_page(
    tenant: Tenant, filters: Filters, after: str | None, size: int
) -> tuple[list[Row], str | None]:
    metas, pos = tenant.course_meta, tenant.courses.pos

    def value(course: Row, name: str) -> Any:
        meta = metas[pos[course["_id"]]]
        if name == "createdAt":
            return meta.created_ms
        if name == "modifiedAt":
            return meta.modified_ms
        if name == "tagIds":
            return meta.tag_ids
        if name == "originalAuthorId":
            return meta.original_author_id
        return course.get(name)

    return collection_page(tenant.courses, filters, after, size, value)


def roles_page(tenant: Tenant, group_id: str, after: str | None, size: int) -> tuple[list[Row], str | None]:
    rows = tenant.roles[group_id]
    start = 0 if after is None else bisect_right([r["userId"] for r in rows], after)
    page = rows[start : start + size]
    more = start + size < len(rows)
    return page, (page[-1]["userId"] if more and page else None)


def _rows_from(index: Any, after_row: int) -> Iterator[int]:
    return islice(index, bisect_right(index, after_row), None)


def stats_page(
    tenant: Tenant, filters: Filters, after: str | None, size: int
) -> tuple[list[Row], str | None]:
    store = tenant.attempts
    after_row = -1
    if after is not None:
        row = store.row_of(after)
        if row is None:
            raise bad_request("The given 'next' pagination token is invalid.")
        after_row = row
    # Translate id filters into course/user row numbers (unknown ids map to -2: they match nothing).
    course_ops = _to_rows(filters.get("courseId"), tenant.courses.pos)
    user_ops = _to_rows(filters.get("userId"), tenant.users.pos)
    completed_ops = filters.get("completedAt")

    candidates: Iterable[int]
    narrowing: list[tuple[list[Any], list[int]]] = []
    for ops, by in ((course_ops, store.by_course), (user_ops, store.by_user)):
        if ops and ("eq" in ops or "in" in ops):
            keys = [ops["eq"]] if "eq" in ops else ops["in"]
            narrowing.append(([by[k] for k in set(keys) if k >= 0], keys))
    if narrowing:
        lists = min(narrowing, key=lambda n: sum(len(x) for x in n[0]))[0]
        candidates = heapq.merge(*(_rows_from(x, after_row) for x in lists))
    elif completed_ops:
        candidates = _rows_from(store.completed_rows, after_row)
    else:
        candidates = range(after_row + 1, len(store))

    course_col, user_col, completed_col = store.course, store.user, store.completed

    def keep(row: int) -> bool:
        if course_ops and not match_value(course_col[row], course_ops):
            return False
        if user_ops and not match_value(user_col[row], user_ops):
            return False
        if completed_ops:
            completed = completed_col[row]
            return match_value(None if completed == NONE else completed, completed_ops)
        return True

    if not course_ops and not user_ops and not completed_ops:
        picked = list(islice(candidates, size + 1))
        rows, more = picked[:size], len(picked) > size
    else:
        rows, more = take(candidates, keep, size)
    rendered = [tenant.render_attempt(r) for r in rows]
    return rendered, (rendered[-1]["_id"] if more and rendered else None)


def _to_rows(ops: dict[str, Any] | None, pos: dict[str, int]) -> dict[str, Any] | None:
    if not ops:
        return None
    out: dict[str, Any] = {}
    for op, value in ops.items():
        out[op] = [pos.get(v, -2) for v in value] if isinstance(value, list) else pos.get(value, -2)
    return out
