"""List queries bind every filter value: a progressions page's statement is built once per filter shape
(``queries._progressions_query``) and must never carry one request's values into the next. The
``user_ids``/``course_ids`` filters search indexes without integration_id (migration 0004) and must
still answer one integration's rows only."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine, event

from factories import make_integration, new_box, seed_tenant
from lmsbridge.ids import record_id
from lmsbridge.store import queries
from lmsbridge.store.engine import make_engine, mapped_read_engine, session_scope
from lmsbridge.store.migrate import upgrade_database


def _page(
    engine: Engine, integration_id: str, filters: queries.ListFilters, after: str | None = None
) -> set[str]:
    with session_scope(engine, readonly=True) as session:
        page = queries.list_course_progressions(session, integration_id, filters, after, 250)
    return {orjson.loads(item)["id"] for item in page.items}


def test_one_statement_per_filter_shape_with_each_requests_values(engine: Engine) -> None:
    box = new_box()
    first, second = make_integration(engine, box), make_integration(engine, box)
    a = seed_tenant(engine, first, users=4, courses=3)
    b = seed_tenant(engine, second, users=2, courses=2)
    user_of_a = {u.remote_id: a.id_of(u) for u in a.users}
    progressions_of = {
        a.id_of(u): {a.id_of(p) for p in a.progressions if p.user_remote_id == u.remote_id} for u in a.users
    }
    queries._progressions_query.cache_clear()

    assert _page(engine, first, queries.ListFilters()) == set(a.ids(a.progressions))
    assert _page(engine, second, queries.ListFilters()) == set(b.ids(b.progressions))
    for remote_id in ("u00001", "u00003"):
        user_id = user_of_a[remote_id]
        assert _page(engine, first, queries.ListFilters(user_ids=(user_id,))) == progressions_of[user_id]
    assert _page(engine, first, queries.ListFilters(user_ids=())) == set()
    # two shapes (no filter; user_ids), however many integrations and values went through them
    assert queries._progressions_query.cache_info().currsize == 2

    # a keyset position is a value too: the rest of the walk after the smallest id
    ordered = sorted(a.ids(a.progressions))
    assert _page(engine, first, queries.ListFilters(), after=ordered[0]) == set(ordered[1:])
    assert _page(engine, first, queries.ListFilters(), after=ordered[-2]) == {ordered[-1]}
    assert queries._progressions_query.cache_info().currsize == 3


def test_user_and_course_filters_answer_one_integrations_rows(engine: Engine) -> None:
    """Two integrations whose remote user and course ids are the same (seed_tenant's): a filter naming
    the other integration's ids matches nothing here, naming this one's matches its rows only."""
    box = new_box()
    first, second = make_integration(engine, box), make_integration(engine, box)
    a = seed_tenant(engine, first, users=3, courses=2)
    b = seed_tenant(engine, second, users=3, courses=2)
    for tenant, other in ((a, b), (b, a)):
        integration_id = tenant.integration_id
        for remote in ("u00001", "u00002"):
            user_id = record_id(integration_id, "users", remote)
            expected = {tenant.id_of(p) for p in tenant.progressions if p.user_remote_id == remote}
            assert expected
            assert _page(engine, integration_id, queries.ListFilters(user_ids=(user_id,))) == expected
            foreign = record_id(other.integration_id, "users", remote)
            assert _page(engine, integration_id, queries.ListFilters(user_ids=(foreign,))) == set()
        course_id = record_id(integration_id, "courses", "c00001")
        expected = {tenant.id_of(p) for p in tenant.progressions if p.course_remote_id == "c00001"}
        assert expected
        assert _page(engine, integration_id, queries.ListFilters(course_ids=(course_id,))) == expected
        foreign = record_id(other.integration_id, "courses", "c00001")
        assert _page(engine, integration_id, queries.ListFilters(course_ids=(foreign,))) == set()


def test_sqlite_searches_the_reference_indexes_for_user_and_course_filters(tmp_path: Path) -> None:
    """The page's own statement, as executed, searches the user or course index (a walk of every row of
    the integration instead would cost an L store seconds a page)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade_database(engine)
    try:
        integration_id = make_integration(engine, new_box())
        seed_tenant(engine, integration_id, users=4, courses=3)
        executed: list[tuple[str, object]] = []

        def capture(*args: object) -> None:  # before_cursor_execute(conn, cursor, statement, parameters, …)
            statement, parameters = args[2], args[3]
            assert isinstance(statement, str)
            if "lms_course_progressions" in statement:
                executed.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        user_id = record_id(integration_id, "users", "u00001")
        course_id = record_id(integration_id, "courses", "c00001")
        for filters, index in (
            (queries.ListFilters(user_ids=(user_id,)), "ix_lms_course_progressions_user"),
            (queries.ListFilters(course_ids=(course_id,)), "ix_lms_course_progressions_course"),
        ):
            executed.clear()
            _page(engine, integration_id, filters)
            ((statement, parameters),) = executed
            with engine.connect() as conn:
                plan = " | ".join(
                    row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                )
            assert f"USING INDEX {index}" in plan, plan
    finally:
        engine.dispose()


def test_reads_through_a_memory_map_see_every_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade_database(engine)
    mapped = mapped_read_engine(engine)
    try:
        assert mapped is not engine
        with mapped.connect() as conn:
            assert (
                conn.exec_driver_sql("PRAGMA mmap_size").scalar() > 0
            )  # capped by the build: 2 GiB - 64 KiB
        with engine.connect() as conn:  # writers (syncs) keep plain reads: mapped pages count in RSS
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
        integration_id = make_integration(engine, new_box())
        tenant = seed_tenant(engine, integration_id, users=3, courses=2)
        assert _page(mapped, integration_id, queries.ListFilters()) == set(tenant.ids(tenant.progressions))
        more = seed_tenant(engine, integration_id, users=6, courses=2)  # after the mapped reader's read
        assert _page(mapped, integration_id, queries.ListFilters()) == set(more.ids(more.progressions))
    finally:
        mapped.dispose()
        engine.dispose()


def test_an_in_memory_store_is_read_through_its_own_engine() -> None:
    memory_engine = make_engine("sqlite://")
    try:
        assert mapped_read_engine(memory_engine) is memory_engine  # another engine would see another database
    finally:
        memory_engine.dispose()
