"""Applies the store's Alembic migrations programmatically (``lmsbridge migrate``, ``serve`` on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from lmsbridge.store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises concurrent `migrate` runs (e.g. API and worker starting together) on PostgreSQL.
_PG_MIGRATION_LOCK = 0x6C6D7362


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts; no alembic.ini involved."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def upgrade_database(url_or_engine: str | Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (default: latest) and return the revision it is at."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations rebuild tables; with foreign keys enforced, dropping the old copy would
                # cascade. The pragma only takes effect outside a transaction, hence the raw connection.
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                # one transaction for the whole upgrade; SQLite begins it IMMEDIATE (one migrator at a time)
                with conn.begin():
                    if not sqlite:
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                    command.upgrade(alembic_config(conn), revision)
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"migration left {len(broken)} rows with broken foreign keys")
                    # read inside the transaction: the pragma below only works on an idle connection
                    reached = MigrationContext.configure(conn).get_current_revision()
                return reached
            finally:
                if sqlite:
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        if owned:
            engine.dispose()


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return make_engine(url_or_engine), True
