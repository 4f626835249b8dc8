"""Planner statistics are refreshed on both databases (a FULL sync calls this when it ends)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from factories import seed_tenant
from lmsbridge.store.maintenance import refresh_statistics


def test_refresh_statistics_gives_the_planner_row_counts(engine: Engine, integration_id: str) -> None:
    seed_tenant(engine, integration_id, users=40, courses=5)
    refresh_statistics(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1 WHERE tbl = 'lms_users'").all()
            assert rows and all(int(stat.split()[0]) >= 40 for _, stat in rows)
        else:
            analyzed = conn.execute(
                text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'lms_users'")
            ).scalar()
            assert analyzed is True
