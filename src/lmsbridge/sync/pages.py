"""What one fetched page becomes in the store: its mapped records (``sync/prepare.py``) reconciled with
what is stored where the stream asks for it, upserted model by model in the caller's transaction.

Returns the upsert counts per model so the run can record them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from lmsbridge.connectors.base import MapContext, StoredRecord, Stream
from lmsbridge.store.record_specs import spec_for
from lmsbridge.store.rows import PreparedRows, prepare_rows
from lmsbridge.store.upsert import UpsertCounts, compared_columns, fetch_existing, write_rows
from lmsbridge.unified.records import MappedRecord

# what a stream's reconcile may read of a stored record, where the model has the column
STORED_COLUMNS = ("remote_data", "remote_deleted_at", "origin_id")


@dataclass(frozen=True, slots=True)
class PageContext:
    integration_id: str
    run_id: str | None  # None: an applied webhook event, not a sync run, wrote the page
    now: datetime
    memory: Mapping[str, Any]

    def map_context(self) -> MapContext:
        return MapContext(self.now, self.memory)


def write_page(
    session: Session, ctx: PageContext, stream: Stream, prepared: Mapping[str, PreparedRows | None]
) -> dict[str, UpsertCounts]:
    """Upsert a prepared page model by model, in the order its mapping gave them (what records refer
    to comes first)."""
    rows = dict(prepared)
    existing: dict[str, Mapping[str, Row[Any]]] = {}
    if stream.reconcile is not None and stream.stored_model is not None:
        existing[stream.stored_model] = _reconcile(session, ctx, stream, rows)
    return {model: _write(session, ctx, page, existing.get(model)) for model, page in rows.items()}


def _reconcile(
    session: Session, ctx: PageContext, stream: Stream, rows: dict[str, PreparedRows | None]
) -> Mapping[str, Row[Any]]:
    """Replace the page's records that the store already holds by what ``stream.reconcile`` makes of
    both; returns the stored rows read (with the columns the upsert compares, so it need not read)."""
    assert stream.reconcile is not None and stream.stored_model is not None
    page = rows.get(stream.stored_model)
    if page is None:
        return {}
    table = spec_for(stream.stored_model).table
    columns = [c for c in STORED_COLUMNS if c in table.c]
    stored = fetch_existing(
        session, stream.stored_model, page.rows, [*columns, *compared_columns(stream.stored_model)]
    )
    replacements: dict[str, list[MappedRecord]] = {}
    map_context = ctx.map_context()
    for row_id, old in stored.items():
        record = StoredRecord(
            remote_data=old.remote_data,
            remote_deleted_at=getattr(old, "remote_deleted_at", None),
            origin_id=getattr(old, "origin_id", None),
        )
        remote_id = str(page.rows[row_id]["remote_id"])
        for replaced in stream.reconcile(remote_id, page.remote_data(row_id), record, map_context):
            replacements.setdefault(replaced.model, []).append(replaced)
    for model, records in replacements.items():
        before = rows.get(model)
        remapped = prepare_rows(ctx.integration_id, records)
        if remapped is not None:
            rows[model] = before.updated(remapped) if before is not None else remapped
    return stored


def _write(
    session: Session,
    ctx: PageContext,
    prepared: PreparedRows | None,
    existing: Mapping[str, Row[Any]] | None = None,
) -> UpsertCounts:
    if prepared is None:
        return UpsertCounts()
    return write_rows(session, ctx.integration_id, prepared, ctx.run_id, ctx.now, existing)
