"""The pure half of writing a page: mapping, ids, content hashes and JSON text, without the database.

Streams whose pages map without reading the store (users, and stats within a page) are prepared here,
in another process when the sync has one (``sync/preparer.py``), so that this CPU work overlaps the
writer's. Imports nothing of SQLAlchemy: a preparation process stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lmsbridge.connectors.learning360 import mapping
from lmsbridge.store.rows import PreparedRows, prepare_rows

Dto = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PreparedStats:
    """A stats page as progressions made from this page's attempts alone (pairs deduplicated by attempt
    ``_id``); the writer merges a pair with what is stored only when the store holds attempts this page
    does not (``attempt_ids``: per progression id, the page's attempt ids of its pair)."""

    rows: PreparedRows | None
    pairs: dict[str, tuple[str, str]]
    attempt_ids: dict[str, frozenset[str]]


def prepare_users(
    integration_id: str, items: list[Dto], *, sqlite_datetimes: bool = False
) -> PreparedRows | None:
    records = [mapping.user_record(dto) for dto in items]
    return prepare_rows(integration_id, records, sqlite_datetimes=sqlite_datetimes)


def prepare_stats(integration_id: str, items: list[Dto], *, sqlite_datetimes: bool = False) -> PreparedStats:
    records = []
    for (user_id, course_id), attempts in mapping.group_attempts(items).items():
        unique = mapping.merge_attempts((), attempts, replace=True)
        records.append(mapping.progression_from_attempts(user_id, course_id, unique))
    rows = prepare_rows(integration_id, records, sqlite_datetimes=sqlite_datetimes)
    pairs: dict[str, tuple[str, str]] = {}
    attempt_ids: dict[str, frozenset[str]] = {}
    by_remote_id = {record.remote_id: record for record in records}
    for row_id, row in (rows.rows if rows is not None else {}).items():
        record = by_remote_id[row["remote_id"]]
        pairs[row_id] = (record.user_remote_id, record.course_remote_id)
        attempt_ids[row_id] = frozenset(str(a["_id"]) for a in (record.remote_data or {})[mapping.STATS_KEY])
    return PreparedStats(rows, pairs, attempt_ids)


class PagePreparation(Protocol):
    def __call__(self, integration_id: str, items: list[Dto], *, sqlite_datetimes: bool = False) -> Any: ...


# stream → preparation; pages of other streams reach their handler as decoded items
PAGE_PREPARERS: dict[str, PagePreparation] = {
    "users": prepare_users,
    "stats": prepare_stats,
}
