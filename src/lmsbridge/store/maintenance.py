"""Planner statistics: after a FULL sync rewrote large tables, the query planners need fresh statistics
or they pick plans for the empty tables they last saw (PostgreSQL: sequential scans; SQLite: walking the
id index for a selective ``user_ids`` filter) — a page that takes milliseconds can take a minute."""

from __future__ import annotations

from sqlalchemy import Engine, text

from lmsbridge.store.schema import RECORD_TABLES

# SQLite: sample this many index entries per index (an approximate ANALYZE in milliseconds)
SQLITE_ANALYSIS_LIMIT = 2000


def refresh_statistics(db: Engine) -> None:
    tables = [model.__tablename__ for model in RECORD_TABLES.values()]  # type: ignore[attr-defined]
    with db.begin() as conn:
        if db.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        else:
            conn.execute(text(f"ANALYZE {', '.join(tables)}"))
