"""Writes one page of mapped records of one model: content-hash comparison, bulk Core statements.

Only rows whose content hash differs are rewritten (and get a new ``changed_at``); unchanged rows only get
``last_seen_sync_id``. Courses keep ``tree_changed_at`` = latest change of the course or its revisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Dialect, Row, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from lmsbridge.store.record_specs import RecordSpec, spec_for
from lmsbridge.store.rows import PreparedRows, prepare_rows, sqlite_datetime_text
from lmsbridge.store.schema import UTCDateTime
from lmsbridge.unified.records import MappedRecord

# Bound parameters per IN (...) list: well under SQLite's and PostgreSQL's limits.
IN_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def seen(self) -> int:
        return self.created + self.changed + self.unchanged

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.created + other.created, self.changed + other.changed, self.unchanged + other.unchanged
        )


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fetch_existing(
    session: Session, model: str, ids: Iterable[str], columns: Sequence[str] | None = None
) -> dict[str, Row[Any]]:
    """Stored rows of ``model`` by id (all columns, or ``id`` + ``columns``); ids without a row are
    absent from the result."""
    table = spec_for(model).table
    selected = [table.c.id, *(table.c[name] for name in columns)] if columns is not None else [table]
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Row[Any]] = {}
    for part in chunks(wanted):
        for row in session.execute(select(*selected).where(table.c.id.in_(part))):
            found[row.id] = row
    return found


def compared_columns(model: str) -> tuple[str, ...]:
    """The stored columns ``upsert_records`` compares with: a caller that reads the stored rows anyway
    fetches these too and passes them as ``existing`` (one query instead of two)."""
    return ("content_hash", "anonymized_at", "last_seen_sync_id", *_existing_extra_columns(spec_for(model)))


def upsert_records(
    session: Session,
    integration_id: str,
    records: Sequence[MappedRecord],
    sync_run_id: str | None,
    now: datetime,
    existing: Mapping[str, Row[Any]] | None = None,
) -> UpsertCounts:
    """Upsert one page of records of one model in the session's transaction (the caller commits).

    ``sync_run_id`` is recorded as ``last_seen_sync_id`` (deletion marking relies on it); ``None`` (a
    webhook or an action writing a single record) leaves it untouched on existing rows. ``existing``:
    the stored rows of these records (``fetch_existing`` with at least ``compared_columns``), if read.
    """
    prepared = prepare_rows(integration_id, records)
    if prepared is None:
        return UpsertCounts()
    return write_rows(session, integration_id, prepared, sync_run_id, now, existing)


def write_rows(
    session: Session,
    integration_id: str,
    prepared: PreparedRows,
    sync_run_id: str | None,
    now: datetime,
    existing: Mapping[str, Row[Any]] | None = None,
) -> UpsertCounts:
    """``upsert_records`` for rows prepared already (``store.rows.prepare_rows``, maybe in another
    process)."""
    spec = spec_for(prepared.model)
    table = spec.table
    rows, data_json = prepared.rows, prepared.data_json
    if not rows:
        return UpsertCounts()
    if existing is None:
        existing = fetch_existing(session, spec.model, list(rows), compared_columns(spec.model))

    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: list[str] = []
    # rewritten records this run already wrote (a progression whose attempts span pages): counted once
    # per run, as what it was the first time (created on an empty store, not "changed")
    again = 0
    for row_id, row in rows.items():
        old = existing.get(row_id)
        if old is None:
            created.append(row)
        elif old.anonymized_at is not None and row["remote_deleted_at"] is not None:
            # still deleted upstream: the record stays anonymized, re-seeing it is no change
            unchanged.append(row_id)
        elif old.content_hash != row["content_hash"]:
            changed.append(row)
            if sync_run_id is not None and getattr(old, "last_seen_sync_id", None) == sync_run_id:
                again += 1
        else:
            unchanged.append(row_id)
    if session.get_bind().dialect.name != "sqlite":
        # PostgreSQL's JSON column takes the decoded value (SQLite's paths bind data_json as is)
        created = [{**row, "remote_data": prepared.remote_data(row["id"])} for row in created]
        changed = [{**row, "remote_data": prepared.remote_data(row["id"])} for row in changed]

    if created:
        _insert(
            session, spec, integration_id, created, data_json, sync_run_id, now, prepared.sqlite_datetimes
        )
    if changed:
        _update_changed(session, spec, changed, existing, data_json, sync_run_id, now)
    if unchanged and sync_run_id is not None:
        for part in chunks(unchanged):
            session.execute(update(table).where(table.c.id.in_(part)).values(last_seen_sync_id=sync_run_id))
    if spec.model == "course_revisions":
        touched = {row["course_id"] for row in (*created, *changed)}
        # a revision that moved to another course changes the tree of the course it left too
        touched.update(existing[row["id"]].course_id for row in changed)
        bump_course_trees(session, touched, now)
    return UpsertCounts(len(created), len(changed) - again, len(unchanged) + again)


def _existing_extra_columns(spec: RecordSpec) -> tuple[str, ...]:
    if spec.model == "courses":
        return ("tree_changed_at",)
    if spec.model == "course_revisions":
        return ("course_id",)
    return ()


def _insert(
    session: Session,
    spec: RecordSpec,
    integration_id: str,
    rows: list[dict[str, Any]],
    data_json: dict[str, str],
    sync_run_id: str | None,
    now: datetime,
    sqlite_datetimes: bool,
) -> None:
    constants: dict[str, Any] = {
        "integration_id": integration_id,
        "changed_at": now,
        "first_seen_at": now,
        "last_seen_sync_id": sync_run_id,
        "anonymized_at": None,
    }
    if spec.model == "courses":
        constants["tree_changed_at"] = now
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        _sqlite_insert(session, spec.table, dialect, rows, data_json, constants, sqlite_datetimes)
        return
    table = spec.table
    insert = postgresql.insert(table)
    # A concurrent writer (an action, a second sync) may have created the row since our SELECT: take ours.
    refreshed = [c.name for c in table.c if c.name not in _KEPT_ON_CONFLICT]
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: insert.excluded[name] for name in refreshed}
    )
    session.execute(statement, [{**row, **constants} for row in rows])


# Columns an INSERT that meets an existing row (a concurrent writer) leaves as they are.
_KEPT_ON_CONFLICT = frozenset({"id", "integration_id", "first_seen_at"})


def _sqlite_insert(
    session: Session,
    table: Table,
    dialect: Dialect,
    rows: list[dict[str, Any]],
    data_json: dict[str, str],
    constants: dict[str, Any],
    sqlite_datetimes: bool,
) -> None:
    """The hot path of a first sync: one pre-compiled INSERT run with plain tuples through the driver.

    Values go through the same SQLAlchemy type processors as any other write (so stored datetimes
    compare correctly), but constants are converted once per page, rows whose datetimes are SQLite's
    text already (``sqlite_datetimes``) not at all, and remote_data is the JSON text already produced
    for the content hash.
    """
    converters = _bind_processors(table, dialect)
    fixed_names = tuple(constants)
    fixed = tuple(_convert(converters[name], constants[name]) for name in fixed_names)
    sql, per_row = _sqlite_insert_sql(table, fixed_names)
    # id order: neighbouring keys share B-tree pages, fewer pages are dirtied per transaction
    ordered = sorted(rows, key=lambda row: row["id"])
    row_converters = (
        _bind_processors(table, dialect, datetimes_as_text=True) if sqlite_datetimes else converters
    )
    values = _driver_values(ordered, per_row, row_converters)
    params = [
        (*row_values, *fixed, data_json[row["id"]]) for row_values, row in zip(values, ordered, strict=True)
    ]
    session.connection().exec_driver_sql(sql, params)


def _driver_values(
    rows: Sequence[Mapping[str, Any]],
    names: tuple[str, ...],
    converters: Mapping[str, Callable[[Any], Any] | None],
) -> list[Sequence[Any]]:
    """Per row, the values of ``names`` as the driver takes them; only the columns that have a
    processor are converted (the datetimes, on record tables)."""
    values_of = itemgetter(*names)
    plan = [(i, converter) for i, name in enumerate(names) if (converter := converters[name]) is not None]
    return [_converted(values_of(row), plan) for row in rows]


def _converted(values: tuple[Any, ...], plan: list[tuple[int, Callable[[Any], Any]]]) -> Sequence[Any]:
    if not plan:
        return values
    out = list(values)
    for i, converter in plan:
        if out[i] is not None:
            out[i] = converter(out[i])
    return out


def _convert(converter: Callable[[Any], Any] | None, value: Any) -> Any:
    return converter(value) if converter is not None and value is not None else value


@cache
def _sqlite_insert_sql(table: Table, fixed: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """INSERT … ON CONFLICT for ``table``; parameters are the per-row columns, then ``fixed``, then
    remote_data. Returns the SQL and the per-row column names."""
    per_row = tuple(c.name for c in table.c if c.name not in fixed and c.name != "remote_data")
    columns = (*per_row, *fixed, "remote_data")
    refreshed = [name for name in columns if name not in _KEPT_ON_CONFLICT]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{name} = excluded.{name}' for name in refreshed)}"
    )
    return sql, per_row


@cache
def _bind_processors(
    table: Table, dialect: Dialect, datetimes_as_text: bool = False
) -> dict[str, Callable[[Any], Any] | None]:
    """Per column, what turns a value into the driver's (None: nothing to do); ``datetimes_as_text``:
    the datetimes are SQLite's text already."""
    processors: dict[str, Callable[[Any], Any] | None] = {}
    for column in table.c:
        if isinstance(column.type, JSON):
            # remote_data arrives as JSON text already; other JSON columns do not exist on record tables
            processors[column.name] = None
        elif isinstance(column.type, UTCDateTime):
            processors[column.name] = None if datetimes_as_text else _sqlite_datetime
        else:
            processors[column.name] = column.type.bind_processor(dialect)
    return processors


def _sqlite_datetime(value: datetime | str) -> str:
    """What the column type's bind processing and sqlite3's default datetime adapter store, in one call;
    text is such a value already (``prepare_rows(..., sqlite_datetimes=True)``)."""
    return value if isinstance(value, str) else sqlite_datetime_text(value)


def _update_changed(
    session: Session,
    spec: RecordSpec,
    rows: list[dict[str, Any]],
    existing: Mapping[str, Row[Any]],
    data_json: dict[str, str],
    sync_run_id: str | None,
    now: datetime,
) -> None:
    table = spec.table
    changes: list[dict[str, Any]] = []
    for row in rows:
        values = {name: value for name, value in row.items() if name != "remote_id"}
        values["changed_at"] = now
        values["anonymized_at"] = None
        if sync_run_id is not None:
            values["last_seen_sync_id"] = sync_run_id
        if spec.model == "courses":
            values["tree_changed_at"] = max(now, existing[row["id"]].tree_changed_at)
        changes.append(values)
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        _sqlite_update(session, table, dialect, changes, data_json)
        return
    params = [{f"b_{k}": v for k, v in values.items()} for values in changes]
    names = [key[2:] for key in params[0] if key != "b_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in names})
    )
    # executemany over a plain Core UPDATE (the ORM's bulk-by-primary-key path needs mapped objects)
    session.connection().execute(statement, params)


def _sqlite_update(
    session: Session, table: Table, dialect: Dialect, changes: list[dict[str, Any]], data_json: dict[str, str]
) -> None:
    """Like ``_sqlite_insert``: one UPDATE by id through the driver, remote_data as the JSON text the
    content hash was computed from (what the JSON column would have written)."""
    names = tuple(name for name in changes[0] if name not in {"id", "remote_data"})
    assignments = ", ".join(f"{name} = ?" for name in (*names, "remote_data"))
    values = _driver_values(changes, names, _bind_processors(table, dialect))
    params = [
        (*row_values, data_json[change["id"]], change["id"])
        for row_values, change in zip(values, changes, strict=True)
    ]
    session.connection().exec_driver_sql(f"UPDATE {table.name} SET {assignments} WHERE id = ?", params)


def bump_course_trees(session: Session, course_ids: Iterable[str], now: datetime) -> None:
    """Move the courses' ``tree_changed_at`` to ``now`` (a nested revision was added, changed or deleted)."""
    from lmsbridge.store.schema import Course

    table: Table = Course.__table__  # type: ignore[assignment]
    ordered = sorted(course_ids)
    for part in chunks(ordered):
        session.execute(
            update(table)
            .where(table.c.id.in_(part), table.c.tree_changed_at < now)
            .values(tree_changed_at=now)
        )
