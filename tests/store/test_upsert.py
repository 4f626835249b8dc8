"""upsert_records: creates, detects real changes by content hash, records the run, maintains course trees."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, Engine, text
from sqlalchemy.dialects.sqlite import pysqlite

from factories import BASE_TIME, course, make_integration, progression, revision, upsert, user
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id, record_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.hashing import stable_json
from lmsbridge.store.schema import UTCDateTime
from lmsbridge.store.upsert import UpsertCounts, fetch_existing, upsert_records

T0 = BASE_TIME
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)


def _rows(engine: Engine, model: str, integration_id: str, remote_ids: list[str]) -> dict[str, object]:
    ids = {record_id(integration_id, model, r): r for r in remote_ids}
    with session_scope(engine, readonly=True) as session:
        found = fetch_existing(session, model, ids)
    return {ids[row_id]: row for row_id, row in found.items()}


def test_create_then_unchanged_then_changed(engine: Engine, integration_id: str) -> None:
    run1, run2, run3 = random_id(), random_id(), random_id()
    users = [user(n) for n in range(1, 6)]
    assert upsert(engine, integration_id, users, sync_run_id=run1, now=T0) == UpsertCounts(created=5)

    rows = _rows(engine, "users", integration_id, [u.remote_id for u in users])
    first = rows["u00001"]
    assert first.id == record_id(integration_id, "users", "u00001")
    assert first.first_seen_at == T0 and first.changed_at == T0
    assert first.last_seen_sync_id == run1
    assert first.work_email == "User1@Example.com"
    assert first.work_email_lower == "user1@example.com"
    assert first.remote_data == users[0].remote_data

    # the same content again: nothing rewritten, only the run that saw it
    assert upsert(engine, integration_id, users, sync_run_id=run2, now=T1) == UpsertCounts(unchanged=5)
    rows = _rows(engine, "users", integration_id, [u.remote_id for u in users])
    assert {r.changed_at for r in rows.values()} == {T0}
    assert {r.last_seen_sync_id for r in rows.values()} == {run2}

    # one real change: only that row moves
    renamed = user(3, first_name="Renamed", remote_data={**users[2].remote_data, "firstName": "Renamed"})
    counts = upsert(engine, integration_id, [*users[:2], renamed, *users[3:]], sync_run_id=run3, now=T2)
    assert counts == UpsertCounts(changed=1, unchanged=4)
    rows = _rows(engine, "users", integration_id, [u.remote_id for u in users])
    assert rows["u00003"].changed_at == T2 and rows["u00003"].first_name == "Renamed"
    assert rows["u00003"].first_seen_at == T0
    assert rows["u00001"].changed_at == T0
    assert {r.last_seen_sync_id for r in rows.values()} == {run3}


def test_remote_data_only_change_counts_and_volatile_keys_do_not(engine: Engine, integration_id: str) -> None:
    base = user(1, remote_data={"_id": "u00001", "lastLoginDate": "2024-01-01T00:00:00Z", "jobTitle": "A"})
    upsert(engine, integration_id, [base], now=T0)

    logged_in = user(
        1, remote_data={"_id": "u00001", "lastLoginDate": "2024-02-02T00:00:00Z", "jobTitle": "A"}
    )
    assert upsert(engine, integration_id, [logged_in], now=T1) == UpsertCounts(unchanged=1)
    assert _rows(engine, "users", integration_id, ["u00001"])["u00001"].changed_at == T0

    promoted = user(
        1, remote_data={"_id": "u00001", "lastLoginDate": "2024-02-02T00:00:00Z", "jobTitle": "B"}
    )
    assert upsert(engine, integration_id, [promoted], now=T2) == UpsertCounts(changed=1)
    row = _rows(engine, "users", integration_id, ["u00001"])["u00001"]
    assert row.changed_at == T2 and row.remote_data["jobTitle"] == "B"


def test_run_id_none_keeps_last_seen(engine: Engine, integration_id: str) -> None:
    run = random_id()
    upsert(engine, integration_id, [user(1)], sync_run_id=run, now=T0)
    upsert(engine, integration_id, [user(1, last_name="Other")], sync_run_id=None, now=T1)
    row = _rows(engine, "users", integration_id, ["u00001"])["u00001"]
    assert row.last_seen_sync_id == run and row.changed_at == T1


def test_references_become_kombo_ids(engine: Engine, integration_id: str) -> None:
    records = [
        user(1),
        course(1, provider_remote_id="p1", origin_id="ext-1"),
        revision(1),
        progression("u00001", "c00001", status="COMPLETED", completed_at=T1),
    ]
    upsert(engine, integration_id, records, now=T0)
    rev = _rows(engine, "course_revisions", integration_id, ["c00001:r1"])["c00001:r1"]
    assert rev.course_id == record_id(integration_id, "courses", "c00001")
    crs = _rows(engine, "courses", integration_id, ["c00001"])["c00001"]
    assert crs.provider_id == record_id(integration_id, "course_providers", "p1")
    assert crs.origin_id == "ext-1"
    prog = _rows(engine, "course_progressions", integration_id, ["u00001:c00001"])["u00001:c00001"]
    assert prog.user_id == record_id(integration_id, "users", "u00001")
    assert prog.course_revision_id == record_id(integration_id, "course_revisions", "c00001:r1")
    assert prog.course_id == record_id(integration_id, "courses", "c00001")
    assert prog.completed_at == T1 and prog.status == "COMPLETED"


def test_course_tree_follows_revisions(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [course(1), course(2)], now=T0)
    tree = lambda: {  # noqa: E731
        r: (row.changed_at, row.tree_changed_at)
        for r, row in _rows(engine, "courses", integration_id, ["c00001", "c00002"]).items()
    }
    assert tree() == {"c00001": (T0, T0), "c00002": (T0, T0)}

    upsert(engine, integration_id, [revision(1)], now=T1)  # created
    assert tree() == {"c00001": (T0, T1), "c00002": (T0, T0)}

    upsert(engine, integration_id, [revision(1)], now=T2)  # unchanged: no bump
    assert tree() == {"c00001": (T0, T1), "c00002": (T0, T0)}

    upsert(engine, integration_id, [revision(1, title="New title")], now=T2)  # changed
    assert tree() == {"c00001": (T0, T2), "c00002": (T0, T0)}

    # the revision moves to course 2: both trees changed
    upsert(engine, integration_id, [revision(1, course_remote_id="c00002", remote_id="c00001:r1")], now=T3)
    assert tree() == {"c00001": (T0, T3), "c00002": (T0, T3)}

    t4 = T3 + timedelta(hours=1)
    upsert(engine, integration_id, [course(1, origin_id="moved")], now=t4)  # the course itself
    assert tree()["c00001"] == (t4, t4)


def test_same_remote_id_in_two_integrations_gives_two_rows(
    engine: Engine, integration_id: str, box: SecretBox
) -> None:
    other = make_integration(engine, box)
    upsert(engine, integration_id, [user(1)], now=T0)
    assert upsert(engine, other, [user(1, first_name="Other tenant")], now=T1) == UpsertCounts(created=1)
    mine = _rows(engine, "users", integration_id, ["u00001"])["u00001"]
    theirs = _rows(engine, "users", other, ["u00001"])["u00001"]
    assert mine.id != theirs.id
    assert (mine.integration_id, mine.first_name) == (integration_id, "First1")
    assert (theirs.integration_id, theirs.first_name) == (other, "Other tenant")


def test_duplicate_in_page_last_wins_and_mixed_models_rejected(engine: Engine, integration_id: str) -> None:
    counts = upsert(engine, integration_id, [user(1), user(1, first_name="Later")], now=T0)
    assert counts == UpsertCounts(created=1)
    assert _rows(engine, "users", integration_id, ["u00001"])["u00001"].first_name == "Later"
    with session_scope(engine) as session, pytest.raises(ValueError, match="one model"):
        upsert_records(session, integration_id, [user(2), course(2)], None, T0)


def test_record_carrying_deletion_then_back(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [user(1, remote_deleted_at=T0)], now=T0)
    assert _rows(engine, "users", integration_id, ["u00001"])["u00001"].remote_deleted_at == T0
    assert upsert(engine, integration_id, [user(1)], now=T1) == UpsertCounts(changed=1)
    row = _rows(engine, "users", integration_id, ["u00001"])["u00001"]
    assert row.remote_deleted_at is None and row.changed_at == T1


def test_large_page_round_trip(engine: Engine, integration_id: str) -> None:
    """More ids than one IN chunk: the existence check and unchanged update work across chunks."""
    users = [user(n) for n in range(1, 1302)]
    assert upsert(engine, integration_id, users, sync_run_id="r1", now=T0).created == 1301
    assert upsert(engine, integration_id, users, sync_run_id="r2", now=T1).unchanged == 1301
    with session_scope(engine, readonly=True) as session:
        rows = fetch_existing(
            session, "users", [record_id(integration_id, "users", u.remote_id) for u in users]
        )
    assert len(rows) == 1301 and {r.last_seen_sync_id for r in rows.values()} == {"r2"}


def test_stored_hash_equals_hash_of_stored_row(engine: Engine, integration_id: str) -> None:
    """Deletion marking recomputes hashes from stored rows; they must match the upsert's own hashes."""
    from factories import provider, skill
    from lmsbridge.store.record_specs import spec_for

    records = [
        user(1, remote_data={"_id": "u00001", "lastLoginDate": "x", "nested": {"b": 1, "a": [1, 2]}}),
        provider(1),
        course(1, provider_remote_id="p00001"),
        revision(1),
        progression("u00001", "c00001", completed_at=T1, status="COMPLETED"),
        skill(1),
        user(2, remote_data=None, remote_created_at=None),
    ]
    upsert(engine, integration_id, records, now=T0)
    for record in records:
        row = _rows(engine, record.model, integration_id, [record.remote_id])[record.remote_id]
        assert row.content_hash == spec_for(record.model).hash_row(row._mapping), record.model


def test_remote_data_is_stored_as_the_json_column_writes_it(engine: Engine, integration_id: str) -> None:
    """The upsert binds remote_data as the JSON text made for the content hash: the stored value is what
    the column's own serialiser writes (sorted keys, no whitespace) and reads back as the mapped dict."""
    data = {"_id": "u00001", "z": [1, {"b": 2, "a": None}], "name": "Zoë", "big": 2**70}
    record = user(1, remote_data=data)
    upsert(engine, integration_id, [record], now=T0)
    changed = user(1, remote_data={**data, "z": []})
    assert upsert(engine, integration_id, [changed], now=T1) == UpsertCounts(changed=1)
    query = text("SELECT CAST(remote_data AS TEXT) FROM lms_users WHERE integration_id = :i")
    with engine.connect() as conn:
        stored = conn.execute(query, {"i": integration_id}).scalar_one()
    assert stored == stable_json(changed.remote_data)  # PostgreSQL's json type keeps the text it is given
    assert json.loads(stored) == changed.remote_data
    assert _rows(engine, "users", integration_id, ["u00001"])["u00001"].remote_data == changed.remote_data


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]),
)
def test_sqlite_datetimes_are_bound_as_sqlalchemy_stores_them(moment: datetime, zone: tzinfo) -> None:
    """UTCDateTime's own SQLite binding (one call per value, bulk upserts bind several per row) is the
    text SQLAlchemy's DATETIME would store for the same instant in UTC; naive values are refused."""
    dialect = pysqlite.dialect()
    aware = moment.replace(tzinfo=zone)
    expected = (
        DateTime().dialect_impl(dialect).bind_processor(dialect)(aware.astimezone(UTC).replace(tzinfo=None))
    )
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert bind(aware) == expected
    with pytest.raises(ValueError, match="naive datetime"):
        bind(moment)
