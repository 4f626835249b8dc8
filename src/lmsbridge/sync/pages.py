"""What one fetched page becomes in the store: map it (pure) and upsert it, in the caller's transaction.

One function per stream; each returns the upsert counts per model so the run can record them. Users and
stats pages arrive prepared (``sync/prepare.py``: mapped, hashed, maybe in another process); the others
as decoded items, mapped here because their mapping reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from lmsbridge.connectors.learning360 import mapping
from lmsbridge.ids import record_id
from lmsbridge.store.rows import PreparedRows, prepare_rows
from lmsbridge.store.upsert import UpsertCounts, compared_columns, fetch_existing, upsert_records, write_rows
from lmsbridge.unified.records import MappedRecord

Dto = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PageContext:
    integration_id: str
    run_id: str | None  # None: an applied webhook event, not a sync run, wrote the page
    now: datetime
    providers: mapping.ProviderIndex


def _upsert(
    session: Session,
    ctx: PageContext,
    records: Sequence[MappedRecord],
    existing: Mapping[str, Row[Any]] | None = None,
) -> UpsertCounts:
    return upsert_records(session, ctx.integration_id, records, ctx.run_id, ctx.now, existing)


def _write(
    session: Session,
    ctx: PageContext,
    prepared: PreparedRows | None,
    existing: Mapping[str, Row[Any]] | None = None,
) -> UpsertCounts:
    if prepared is None:
        return UpsertCounts()
    return write_rows(session, ctx.integration_id, prepared, ctx.run_id, ctx.now, existing)


def users_page(session: Session, ctx: PageContext, prepared: PreparedRows | None) -> dict[str, UpsertCounts]:
    return {"users": _write(session, ctx, prepared)}


def integrations_page(session: Session, ctx: PageContext, items: list[Dto]) -> dict[str, UpsertCounts]:
    return {"course_providers": _upsert(session, ctx, [mapping.provider_record(dto) for dto in items])}


def courses_page(session: Session, ctx: PageContext, items: list[Dto]) -> dict[str, UpsertCounts]:
    ids = [record_id(ctx.integration_id, "courses", str(dto["_id"])) for dto in items]
    stored = fetch_existing(session, "courses", ids)
    courses, revisions = [], []
    for dto, course_id in zip(items, ids, strict=True):
        old = stored.get(course_id)
        # origin_id is known only from our own upserts; the first observed deletion time is kept
        course, revision = mapping.course_records(
            dto,
            ctx.providers,
            observed_at=(old.remote_deleted_at if old is not None and old.remote_deleted_at else ctx.now),
            origin_id=old.origin_id if old is not None else None,
        )
        courses.append(course)
        revisions.append(revision)
    return {
        "course_providers": _upsert(session, ctx, mapping.synthetic_providers(items, ctx.providers)),
        "courses": _upsert(session, ctx, courses, stored),
        "course_revisions": _upsert(session, ctx, revisions),
    }


def stats_page(session: Session, ctx: PageContext, prepared: PreparedRows | None) -> dict[str, UpsertCounts]:
    """Attempts fold into one progression per (user, course); a pair's attempts arrive on different
    pages (the list is ordered by attempt, not by pair), so each page merges into what is stored, by
    attempt ``_id``. Writing a pair's partial attempt list first would change (and move ``changed_at``
    of) records that did not change. The price: an attempt that 360Learning drops while its pair keeps
    others stays in ``remote_data`` (docs/sync.md); a pair that disappears entirely is marked deleted.

    The page comes prepared from its own attempts (``sync/prepare.py``); a pair is mapped again here only
    when the store holds attempts of it that the page does not (it spans pages, or a delta run brings
    new attempts)."""
    if prepared is None:
        return {"course_progressions": UpsertCounts()}
    # one query serves the merge (remote_data) and the upsert's comparison
    columns = ["remote_data", *compared_columns("course_progressions")]
    stored = fetch_existing(session, "course_progressions", prepared.rows, columns)
    merged = []
    for row_id, old in stored.items():
        existing = mapping.attempts_from_remote_data(old.remote_data)
        page_attempts = prepared.remote_data(row_id)[mapping.STATS_KEY]
        if {str(a["_id"]) for a in existing} <= {str(a["_id"]) for a in page_attempts}:
            continue  # the page holds the whole pair: prepared as it is to be stored
        attempts = mapping.merge_attempts(existing, page_attempts, replace=False)
        pair = mapping.split_progression_remote_id(prepared.rows[row_id]["remote_id"])
        merged.append(mapping.progression_from_attempts(*pair, attempts))
    # prepared as the page was (datetimes as SQLite's text or not), so the rows stay alike for the writer
    if remapped := prepare_rows(ctx.integration_id, merged, sqlite_datetimes=prepared.sqlite_datetimes):
        prepared = prepared.updated(remapped)
    return {"course_progressions": _write(session, ctx, prepared, stored)}


# stream → write of one page: its decoded items, or what sync/prepare.py made of them (PAGE_PREPARERS)
PAGE_HANDLERS: dict[str, Callable[[Session, PageContext, Any], dict[str, UpsertCounts]]] = {
    "users": users_page,
    "integrations": integrations_page,
    "courses": courses_page,
    "stats": stats_page,
}
