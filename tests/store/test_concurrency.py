"""Concurrent writers on one database: read-then-write upserts never fail with "database is locked"."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine

from factories import BASE_TIME, user
from lmsbridge.ids import record_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.upsert import fetch_existing, upsert_records


def test_parallel_upserts_of_overlapping_pages(engine: Engine, integration_id: str) -> None:
    errors: list[BaseException] = []
    rounds = 15

    def writer(offset: int) -> None:
        try:
            for i in range(rounds):
                # overlapping remote ids: both writers create and change the same rows
                page = [user(n, last_name=f"w{offset}-{i}") for n in range(1, 101)]
                with session_scope(engine) as session:
                    upsert_records(
                        session, integration_id, page, f"run-{offset}", BASE_TIME + timedelta(seconds=i)
                    )
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    ids = [record_id(integration_id, "users", user(n).remote_id) for n in range(1, 101)]
    with session_scope(engine, readonly=True) as session:
        rows = fetch_existing(session, "users", ids)
    assert len(rows) == 100
    assert {row.last_name for row in rows.values()} <= {f"w{k}-{rounds - 1}" for k in range(2)}


def test_a_read_session_does_not_wait_for_an_open_write_transaction(
    engine: Engine, integration_id: str
) -> None:
    read: list[int] = []
    with session_scope(engine) as writer:
        upsert_records(writer, integration_id, [user(1)], "run-w", BASE_TIME)  # holds the write lock (SQLite)

        def reader() -> None:
            with session_scope(engine, readonly=True) as session:
                read.append(
                    len(
                        fetch_existing(
                            session, "users", [record_id(integration_id, "users", user(1).remote_id)]
                        )
                    )
                )

        thread = threading.Thread(target=reader)
        thread.start()
        # a reader that began IMMEDIATE would block on the lock for the 30 s busy timeout
        thread.join(timeout=10)
        assert not thread.is_alive(), "the read session waited for the writer's lock"
    # the writer's uncommitted row was not visible to the reader
    assert read == [0]
