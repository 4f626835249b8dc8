"""The pure half of writing a page of the streams whose pages map without reading the store (users, and
stats within a page): mapping, ids, content hashes and JSON text, without the database. Run in the sync's
helper process for large pages (``sync/preparer.py``): imports nothing of SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmsbridge.connectors.learning360 import mapping
from lmsbridge.store.rows import PreparedRows, prepare_rows

Dto = dict[str, Any]


def prepare_users(integration_id: str, items: list[Dto]) -> PreparedRows | None:
    return prepare_rows(integration_id, [mapping.user_record(dto) for dto in items])


def prepare_stats(integration_id: str, items: list[Dto]) -> PreparedRows | None:
    """Progressions made from this page's attempts alone (deduplicated by attempt ``_id``); the writer
    merges a pair with what is stored where the store holds attempts of it this page does not."""
    records = []
    for (user_id, course_id), attempts in mapping.group_attempts(items).items():
        unique = mapping.merge_attempts((), attempts, replace=True)
        records.append(mapping.progression_from_attempts(user_id, course_id, unique))
    return prepare_rows(integration_id, records)


# stream → preparation; pages of other streams reach their handler as decoded items
PAGE_PREPARERS: dict[str, Callable[[str, list[Dto]], PreparedRows | None]] = {
    "users": prepare_users,
    "stats": prepare_stats,
}
