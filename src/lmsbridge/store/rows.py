"""A page of mapped records as the rows ``store.upsert.write_rows`` writes: ids, content hashes, JSON
text and datetimes as their stored text, most of a page's Python cost. Pure: imports nothing of
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lmsbridge import json_text
from lmsbridge.ids import record_id
from lmsbridge.store.datetimes import stored_datetime
from lmsbridge.store.hashing import hash_with_json
from lmsbridge.store.record_specs import spec_for
from lmsbridge.unified.records import MappedRecord


@dataclass(frozen=True, slots=True)
class PreparedRows:
    """Rows of one model by record id: the mapped columns, ``id``, ``remote_id``, the two remote dates and
    ``content_hash``; every datetime as its ``stored_datetime`` text. ``remote_data`` is only in
    ``data_json``, as the JSON text the hash was computed from (what is stored: it is not serialised
    twice)."""

    model: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_json: dict[str, str] = field(default_factory=dict)

    def remote_data(self, row_id: str) -> Any:
        """The decoded ``remote_data`` of a row."""
        return json_text.loads(self.data_json[row_id])

    def updated(self, other: PreparedRows) -> PreparedRows:
        """These rows with ``other``'s (same model) in place of or added to them."""
        if other.model != self.model:
            raise ValueError(f"cannot combine {self.model} rows with {other.model} rows")
        return PreparedRows(
            self.model,
            {**self.rows, **other.rows},
            {**self.data_json, **other.data_json},
        )


def prepare_rows(integration_id: str, records: Sequence[MappedRecord]) -> PreparedRows | None:
    """The rows of one page of records of one model (None for no records). The last occurrence of a
    remote id wins: a page may repeat a record that moved while paging."""
    if not records:
        return None
    models = {r.model for r in records}
    if len(models) != 1:
        raise ValueError(f"one page holds one model, got {sorted(models)}")
    spec = spec_for(models.pop())
    prepared = PreparedRows(spec.model)
    for record in records:
        values = spec.values(integration_id, record)
        digest, serialized = hash_with_json(
            (*values, record.remote_created_at, record.remote_deleted_at),
            record.remote_data,
            spec.volatile_keys,
        )
        row = dict(zip(spec.columns, values, strict=True))
        for name, value in row.items():
            if value.__class__ is datetime:
                row[name] = stored_datetime(value)
        row["id"] = row_id = record_id(integration_id, spec.model, record.remote_id)
        row["remote_id"] = record.remote_id
        created, deleted = record.remote_created_at, record.remote_deleted_at
        row["remote_created_at"] = None if created is None else stored_datetime(created)
        row["remote_deleted_at"] = None if deleted is None else stored_datetime(deleted)
        row["content_hash"] = digest
        prepared.rows[row_id] = row
        prepared.data_json[row_id] = serialized
    return prepared
