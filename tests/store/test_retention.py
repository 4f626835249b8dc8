"""Deletion marking only for records a complete run did not see; anonymization 14 days after deletion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from factories import BASE_TIME, course, progression, revision, upsert, user
from lmsbridge.ids import record_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.record_specs import spec_for
from lmsbridge.store.retention import anonymize_expired, mark_unseen_deleted
from lmsbridge.store.upsert import UpsertCounts, fetch_existing

T0 = BASE_TIME
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


def _row(engine: Engine, model: str, integration_id: str, remote_id: str):  # type: ignore[no-untyped-def]
    row_id = record_id(integration_id, model, remote_id)
    with session_scope(engine, readonly=True) as session:
        return fetch_existing(session, model, [row_id])[row_id]


def test_only_unseen_records_are_marked(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [user(1), user(2), user(3)], sync_run_id="run1", now=T0)
    upsert(engine, integration_id, [user(1), user(3)], sync_run_id="run2", now=T1)
    with session_scope(engine) as session:
        assert mark_unseen_deleted(session, integration_id, "users", "run2", T1) == 1
    gone = _row(engine, "users", integration_id, "u00002")
    assert gone.remote_deleted_at == T1 and gone.changed_at == T1
    # its fields stay until anonymization; the hash reflects the deletion
    assert gone.first_name == "First2"
    assert gone.content_hash == spec_for("users").hash_row(gone._mapping)
    assert _row(engine, "users", integration_id, "u00001").remote_deleted_at is None
    assert _row(engine, "users", integration_id, "u00001").changed_at == T0

    # marking again is a no-op: already-deleted rows keep their deletion time
    with session_scope(engine) as session:
        assert mark_unseen_deleted(session, integration_id, "users", "run2", T2) == 0
    assert _row(engine, "users", integration_id, "u00002").remote_deleted_at == T1


def test_marking_is_per_integration_and_model(engine: Engine, integration_id: str, box) -> None:  # type: ignore[no-untyped-def]
    from factories import make_integration

    other = make_integration(engine, box)
    upsert(engine, integration_id, [user(1), course(1)], sync_run_id="run1", now=T0)
    upsert(engine, other, [user(1)], sync_run_id="other-run", now=T0)
    with session_scope(engine) as session:
        assert mark_unseen_deleted(session, integration_id, "users", "run2", T1) == 1
    assert _row(engine, "users", other, "u00001").remote_deleted_at is None
    assert _row(engine, "courses", integration_id, "c00001").remote_deleted_at is None


def test_deleted_record_seen_again_is_restored(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [user(1)], sync_run_id="run1", now=T0)
    with session_scope(engine) as session:
        mark_unseen_deleted(session, integration_id, "users", "run2", T1)
    assert upsert(engine, integration_id, [user(1)], sync_run_id="run3", now=T2) == UpsertCounts(changed=1)
    row = _row(engine, "users", integration_id, "u00001")
    assert row.remote_deleted_at is None and row.changed_at == T2 and row.last_seen_sync_id == "run3"


def test_deleted_revision_moves_course_tree(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [course(1), revision(1)], sync_run_id="run1", now=T0)
    upsert(engine, integration_id, [course(1)], sync_run_id="run2", now=T1)
    with session_scope(engine) as session:
        assert mark_unseen_deleted(session, integration_id, "course_revisions", "run2", T2) == 1
    crs = _row(engine, "courses", integration_id, "c00001")
    assert (crs.changed_at, crs.tree_changed_at) == (T0, T2)


def test_deleted_course_moves_its_tree(engine: Engine, integration_id: str) -> None:
    upsert(engine, integration_id, [course(1)], sync_run_id="run1", now=T0)
    with session_scope(engine) as session:
        mark_unseen_deleted(session, integration_id, "courses", "run2", T1)
    crs = _row(engine, "courses", integration_id, "c00001")
    assert (crs.changed_at, crs.tree_changed_at, crs.remote_deleted_at) == (T1, T1, T1)


def test_anonymize_after_fourteen_days(engine: Engine, integration_id: str) -> None:
    records = [user(1), user(2), progression("u00001", "c00001", status="COMPLETED", completed_at=T0)]
    upsert(engine, integration_id, records, sync_run_id="run1", now=T0)
    upsert(engine, integration_id, [user(2)], sync_run_id="run2", now=T1)
    with session_scope(engine) as session:
        mark_unseen_deleted(session, integration_id, "users", "run2", T1)
        mark_unseen_deleted(session, integration_id, "course_progressions", "run2", T1)

    # 13 days later nothing is anonymized yet
    with session_scope(engine) as session:
        assert anonymize_expired(session, T1 + timedelta(days=13)) == 0
    assert _row(engine, "users", integration_id, "u00001").first_name == "First1"

    later = T1 + timedelta(days=14, seconds=1)
    with session_scope(engine) as session:
        assert anonymize_expired(session, later) == 2
    gone = _row(engine, "users", integration_id, "u00001")
    assert (gone.first_name, gone.last_name, gone.work_email, gone.work_email_lower, gone.status) == (
        None,
    ) * 5
    assert gone.remote_data is None and gone.anonymized_at == later
    assert (gone.remote_id, gone.integration_id, gone.remote_deleted_at) == ("u00001", integration_id, T1)
    assert gone.changed_at == T1 and gone.first_seen_at == T0
    prog = _row(engine, "course_progressions", integration_id, "u00001:c00001")
    assert prog.remote_data is None and prog.status is None and prog.completed_at is None
    assert prog.user_id == record_id(integration_id, "users", "u00001")  # references are kept
    # the live user is untouched; running again changes nothing
    assert _row(engine, "users", integration_id, "u00002").first_name == "First2"
    with session_scope(engine) as session:
        assert anonymize_expired(session, later + timedelta(days=1)) == 0

    # an anonymized record that comes back is a fully restored, changed record
    assert upsert(engine, integration_id, [user(1)], sync_run_id="run3", now=later).changed == 1
    back = _row(engine, "users", integration_id, "u00001")
    assert back.first_name == "First1" and back.anonymized_at is None and back.remote_deleted_at is None


def test_an_anonymized_record_still_deleted_upstream_is_unchanged(
    engine: Engine, integration_id: str
) -> None:
    deleted = user(1, status="INACTIVE", remote_deleted_at=T0)
    upsert(engine, integration_id, [deleted], sync_run_id="run1", now=T0)
    later = T0 + timedelta(days=15)
    with session_scope(engine) as session:
        assert anonymize_expired(session, later) == 1
    before = _row(engine, "users", integration_id, "u00001")

    # the next full scan still returns the (deleted) user with its fields: no change, stays anonymized
    counts = upsert(engine, integration_id, [deleted], sync_run_id="run2", now=later + timedelta(hours=1))
    assert counts == UpsertCounts(created=0, changed=0, unchanged=1)
    after = _row(engine, "users", integration_id, "u00001")
    assert after.first_name is None and after.anonymized_at == before.anonymized_at
    assert after.changed_at == before.changed_at and after.last_seen_sync_id == "run2"
