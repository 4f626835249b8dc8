"""Database engines and sessions: SQLite in WAL mode (one writer, many readers); PostgreSQL via psycopg 3."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lmsbridge.store.hashing import stable_json

# How long a SQLite writer waits for the lock before "database is locked" (sync pages are short).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# WAL pages between automatic checkpoints (SQLite's default is 1000 pages of 4 KiB).
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
# Execution option read by the "begin" hook: which BEGIN a SQLite transaction starts with.
_SQLITE_BEGIN = "lmsbridge_sqlite_begin"
# A BEGIN that still finds the database locked after the busy timeout is tried this many times more,
# after a short pause (another writer's long transaction usually ends meanwhile).
SQLITE_BEGIN_RETRIES = 2
SQLITE_BEGIN_RETRY_PAUSE_S = 0.05

logger = logging.getLogger(__name__)


class StoreBusy(Exception):
    """The database stayed locked by another writer through the busy timeout and the retries. The API
    answers 503 with Retry-After; callers may retry."""


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "database is busy"."""
    original = exc.orig if isinstance(exc, OperationalError) else exc
    if not isinstance(original, sqlite3.OperationalError):
        return False
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` (sqlite:///… or postgresql+psycopg://…); extra kwargs go to create_engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, sqlite_busy_timeout_ms, **kwargs)
    if parsed.drivername == "postgresql":
        # plain postgresql:// would pick psycopg2, which is not installed
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    options: dict[str, Any] = {
        "pool_size": 5,
        "max_overflow": 10,
        # a restarted server or a dropped idle connection must not fail the next request
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        # psycopg prepares a statement server-side after 5 runs; the generic plan PostgreSQL then caches
        # for `id IN (…)` was made while the table was small (a sequential scan) and stays one as the
        # table grows: a full sync of 50k progressions slowed ~20x. Plan every statement afresh instead.
        "connect_args": {"prepare_threshold": None},
    }
    options.update(kwargs)
    return create_engine(url, json_serializer=stable_json, **options)


# How much of an SQLite store the API's list reads map (SQLite caps it at its build's maximum, 2 GiB in
# common builds)
READ_MMAP_BYTES = 2**31


def mapped_read_engine(engine: Engine) -> Engine:
    """The engine for the API's list reads: over an SQLite file, a second engine that reads it through a
    memory map — pages are read in place from the OS cache instead of being copied into each connection's
    cache, about a fifth less server CPU per page (benchmarks/README.md, figure 6); otherwise ``engine``.
    Writers never map: mapped pages count in a process's RSS, a sync would appear to hold the store."""
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:" or "mode=memory" in database:
        return engine
    mapped = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(mapped, "connect")
    def _map(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")

    return mapped


def _sqlite_engine(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    private_file: Path | None = None
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file = Path(database).expanduser().resolve()
        # the store holds names, emails and logs: its directory (when we create it) is the owner's only
        private_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if database and database != ":memory:":
        # SQLite connections are cheap file handles: room for API requests, syncs and actions at once
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 30)
    connect_args = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    connect_args.update(kwargs.pop("connect_args", {}))
    # JSON columns are written as the content hash sees them (sorted keys, UTC ISO datetimes) on both backends
    engine = create_engine(url, connect_args=connect_args, json_serializer=stable_json, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own BEGIN handling is deferred and skips DDL; we emit BEGIN ourselves (below) so
        # transactions, SAVEPOINTs and transactional DDL in migrations behave as on PostgreSQL.
        dbapi_connection.isolation_level = None
        if private_file is not None:
            _make_private(private_file)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # WAL + NORMAL is durable across application crashes; only an OS crash can lose the last commits
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint every ~40 MB of WAL instead of 4 MB: a full sync rewrites the same index pages
            # many times, and fewer checkpoints halve the commit cost of bulk upserts.
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
            # 64 MiB page cache per connection (default 2 MiB): indexes of a big tenant stay in memory
            cursor.execute("PRAGMA cache_size=-65536")
        finally:
            cursor.close()
        if private_file is not None:
            _make_private(private_file)  # the WAL and shared-memory files WAL mode just created

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers start with BEGIN IMMEDIATE: a deferred transaction that reads and then writes can fail
        # at once with SQLITE_BUSY (the busy timeout does not apply to lock upgrades). Readers stay deferred.
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        _begin_retrying(conn, mode)

    return engine


def _make_private(database: Path) -> None:
    """The SQLite file and its WAL/shared-memory files readable and writable by their owner only."""
    for path in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:  # not ours to change (a shared file set up by an operator): leave it
            pass


def _begin_retrying(conn: Connection, mode: str) -> None:
    """BEGIN on the raw connection (nothing ran yet, so a locked database can simply be tried again);
    still locked after the retries: ``StoreBusy``."""
    for attempt in range(SQLITE_BEGIN_RETRIES + 1):
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(f"BEGIN {mode}")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            if attempt == SQLITE_BEGIN_RETRIES:
                raise StoreBusy("the database is locked by another writer") from exc
            logger.info(
                "database locked at BEGIN %s; retry %d of %d", mode, attempt + 1, SQLITE_BEGIN_RETRIES
            )
            time.sleep(SQLITE_BEGIN_RETRY_PAUSE_S * 2**attempt)
        finally:
            cursor.close()


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception. Use ``readonly=True`` for reads:
    on SQLite it begins DEFERRED, so it does not take the write lock."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        if readonly:
            # a per-transaction option read by the "begin" hook (an option copy of the engine cost more)
            session.connection(execution_options={_SQLITE_BEGIN: "DEFERRED"})
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if is_busy(exc):  # a lock upgrade or a commit that found the database locked
            raise StoreBusy("the database is locked by another writer") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
