"""PostgreSQL: a course-progressions page joins its users, revisions and courses by index lookups. Its
planner otherwise hashed a whole table per page; the switch must stay inside the page's transaction
(the pooled connection serves other requests next)."""

from __future__ import annotations

from sqlalchemy import text

from factories import make_integration
from lmsbridge.store import queries
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database


def test_a_progressions_page_turns_hash_joins_off_for_its_own_transaction_only(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection: the same one next
    try:
        upgrade_database(engine)
        integration_id = make_integration(engine)
        with session_scope(engine, readonly=True) as session:
            assert session.execute(text("SHOW enable_hashjoin")).scalar() == "on"
            queries.list_course_progressions(session, integration_id, queries.ListFilters(), None, 250)
            assert session.execute(text("SHOW enable_hashjoin")).scalar() == "off"
        with session_scope(engine, readonly=True) as session:
            assert session.execute(text("SHOW enable_hashjoin")).scalar() == "on"
    finally:
        engine.dispose()
