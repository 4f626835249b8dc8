"""List queries bind every filter value: a progressions page's statement is built once per filter shape
(``queries._progressions_query``) and must never carry one request's values into the next."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine

from factories import make_integration, new_box, seed_tenant
from lmsbridge.store import queries
from lmsbridge.store.engine import make_engine, session_scope, sqlite_read_engine
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


def test_reads_through_a_memory_map_see_every_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade_database(engine)
    mapped = sqlite_read_engine(engine, 64 * 2**20)
    try:
        assert mapped is not None
        with mapped.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 64 * 2**20
        with engine.connect() as conn:  # writers (syncs) keep plain reads: mapped pages count in RSS
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
        integration_id = make_integration(engine, new_box())
        tenant = seed_tenant(engine, integration_id, users=3, courses=2)
        assert _page(mapped, integration_id, queries.ListFilters()) == set(tenant.ids(tenant.progressions))
        more = seed_tenant(engine, integration_id, users=6, courses=2)  # after the mapped reader's read
        assert _page(mapped, integration_id, queries.ListFilters()) == set(more.ids(more.progressions))
    finally:
        if mapped is not None:
            mapped.dispose()
        engine.dispose()


def test_no_mapped_reader_where_it_cannot_or_should_not_map(tmp_path: Path) -> None:
    file_engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    memory_engine = make_engine("sqlite://")
    try:
        assert sqlite_read_engine(file_engine, 0) is None  # turned off
        assert sqlite_read_engine(memory_engine, 2**30) is None  # another engine would see another database
    finally:
        file_engine.dispose()
        memory_engine.dispose()
