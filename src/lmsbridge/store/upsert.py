"""Writes one page of mapped records of one model: content-hash comparison, bulk Core statements.

Only rows whose content hash differs are rewritten (and get a new ``changed_at``); unchanged rows only get
``last_seen_sync_id``. Courses keep ``tree_changed_at`` = latest change of the course or its revisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Insert,
    Row,
    Table,
    Update,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

from lmsbridge.store.datetimes import stored_datetime
from lmsbridge.store.record_specs import RecordSpec, spec_for
from lmsbridge.store.rows import PreparedRows, prepare_rows
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
    if created:
        _insert(session, spec, integration_id, created, data_json, sync_run_id, now)
    if changed:
        _update_changed(session, spec, changed, existing, data_json, sync_run_id, now)
    if unchanged and sync_run_id is not None:
        for part in chunks(sorted(unchanged)):
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
) -> None:
    stamp = stored_datetime(now)
    constants: dict[str, Any] = {
        "integration_id": integration_id,
        "changed_at": stamp,
        "first_seen_at": stamp,
        "last_seen_sync_id": sync_run_id,
        "anonymized_at": None,
    }
    if spec.model == "courses":
        constants["tree_changed_at"] = stamp
    # id order: neighbouring keys share B-tree pages, fewer pages are dirtied per transaction
    ordered = sorted(rows, key=itemgetter("id"))
    params = [{**row, **constants, _DATA_JSON: data_json[row["id"]]} for row in ordered]
    execute_many(session, _insert_statement(spec.table, session.get_bind().dialect.name), params)


# Columns an INSERT that meets an existing row (a concurrent writer) leaves as they are.
_KEPT_ON_CONFLICT = frozenset({"id", "integration_id", "first_seen_at"})
# remote_data's parameter: the JSON text the content hash was computed from
_DATA_JSON = "data_json"
_INSERTS: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class StoredDateTime(TypeDecorator[str]):
    """A datetime column's value given as its stored text already (``store.datetimes.stored_datetime``, made
    where the page was prepared): SQLite stores it as it is, PostgreSQL's driver gets the datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[str | None], Any] | None:
        if dialect.name == "sqlite":
            return None

        def process(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process


def _bound(table: Table, name: str, key: str | None = None) -> Any:
    """The bind parameter of column ``name`` (named ``key``) as the prepared rows give its value."""
    column = table.c[name]
    type_ = StoredDateTime() if isinstance(column.type, UTCDateTime) else column.type
    return bindparam(key or name, type_=type_)


class JSONText(TypeDecorator[str]):
    """A JSON column's value given as its JSON text already (the content hash's stable JSON, which is
    what the column's own serialiser writes): the text is stored as it is, not serialised again."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@lru_cache(maxsize=64)
def _insert_statement(table: Table, dialect_name: str) -> sqlite.Insert | postgresql.Insert:
    """INSERT … ON CONFLICT (id) DO UPDATE: a concurrent writer (an action, a second sync) may have
    created the row since our SELECT; ours is newer."""
    values = {c.name: _bound(table, c.name) for c in table.c if c.name != "remote_data"}
    insert = _INSERTS[dialect_name](table).values(
        **values, remote_data=bindparam(_DATA_JSON, type_=JSONText())
    )
    refreshed = {c.name: insert.excluded[c.name] for c in table.c if c.name not in _KEPT_ON_CONFLICT}
    return insert.on_conflict_do_update(index_elements=[table.c.id], set_=refreshed)


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
    stamp = stored_datetime(now)
    params: list[dict[str, Any]] = []
    # id order, as the INSERT: two writers of overlapping pages lock rows in one order (no deadlock)
    for row in sorted(rows, key=itemgetter("id")):
        values = {f"b_{name}": value for name, value in row.items() if name != "remote_id"}
        values["b_changed_at"] = stamp
        values["b_anonymized_at"] = None
        values[_DATA_JSON] = data_json[row["id"]]
        if sync_run_id is not None:
            values["b_last_seen_sync_id"] = sync_run_id
        if spec.model == "courses":
            values["b_tree_changed_at"] = stored_datetime(max(now, existing[row["id"]].tree_changed_at))
        params.append(values)
    names = tuple(key[2:] for key in params[0] if key.startswith("b_") and key != "b_id")
    # a plain Core UPDATE (the ORM's bulk-by-primary-key path needs mapped objects)
    execute_many(session, _update_statement(table, names), params)


@lru_cache(maxsize=64)
def _update_statement(table: Table, names: tuple[str, ...]) -> Update:
    """UPDATE of ``names`` and remote_data by id, bound as ``b_<name>``."""
    assignments: dict[str, Any] = {name: _bound(table, name, f"b_{name}") for name in names}
    assignments["remote_data"] = bindparam(_DATA_JSON, type_=JSONText())
    return update(table).where(table.c.id == bindparam("b_id")).values(assignments)


def execute_many(session: Session, statement: Insert | Update, params: list[dict[str, Any]]) -> None:
    """``statement`` once per parameter set, in the session's transaction. On SQLite it is compiled once
    and the driver's executemany gets each set's values through the same bind processors: SQLAlchemy's
    per-row parameter assembly cost a third of a sync's writes (benchmarks/README.md, figure 3)."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        connection.execute(statement, params)
        return
    compiled = _compiled(statement, tuple(params[0]), dialect)
    names = compiled.positiontup or []
    processors = [compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    plan = [(i, process) for i, process in enumerate(processors) if process is not None]
    values_of = itemgetter(*names)
    if len(names) == 1:
        rows = [(values_of(param),) for param in params]
    else:
        rows = [values_of(param) for param in params]
    if plan:
        for n, row in enumerate(rows):
            values = list(row)
            for i, process in plan:
                values[i] = process(values[i])
            rows[n] = tuple(values)
    connection.exec_driver_sql(compiled.string, rows)


@lru_cache(maxsize=128)
def _compiled(statement: Insert | Update, keys: tuple[str, ...], dialect: Dialect) -> SQLCompiler:
    """The statement compiled for these parameter names: once per table and kind of page."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    return compiled


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
