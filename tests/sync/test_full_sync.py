"""A FULL sync against the sandbox reproduces the tenant exactly, within the call budget."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sync_support import SyncSetup

from lmsbridge.ids import record_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import Course, CourseProgression, CourseProvider, CourseRevision, SyncRun, User
from sandbox_truth import fetch_all


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _rows(setup: SyncSetup, model: Any) -> dict[str, Any]:
    with session_scope(setup.db, readonly=True) as session:
        rows = session.scalars(select(model).where(model.integration_id == setup.integration_id)).all()
        return {row.remote_id: row for row in rows}


async def test_full_sync_reproduces_tenant_field_by_field(setup: SyncSetup) -> None:
    sb, integ = setup.sandbox, setup.integration_id
    users = fetch_all(sb, "/api/v2/users")
    courses = fetch_all(sb, "/api/v2/courses")
    attempts = fetch_all(sb, "/api/v2/courses/stats")
    integrations = fetch_all(sb, "/api/v2/integrations")
    sb.control.reset_counters()

    outcome = await setup.engine.run_new(integ, "FULL")

    assert outcome.state == "SUCCEEDED", outcome.error
    assert set(outcome.changed_models) >= {"users", "courses", "course_revisions", "course_progressions"}

    stored_users = _rows(setup, User)
    assert set(stored_users) == {u["_id"] for u in users}
    for dto in users:
        row = stored_users[dto["_id"]]
        assert row.id == record_id(integ, "users", dto["_id"])
        assert (row.first_name, row.last_name, row.work_email) == (
            dto.get("firstName"),
            dto.get("lastName"),
            dto.get("mail"),
        )
        assert row.status == ("INACTIVE" if dto["status"] == "deleted" else "ACTIVE")
        if dto["status"] == "deleted":
            assert row.remote_deleted_at == _dt(dto["deletedAt"][-1])
        else:
            assert row.remote_deleted_at is None
        assert row.remote_data == {"/users": dto}

    stored_courses, stored_revisions = _rows(setup, Course), _rows(setup, CourseRevision)
    assert set(stored_courses) == set(stored_revisions) == {c["_id"] for c in courses}
    providers = _rows(setup, CourseProvider)
    assert {i["_id"] for i in integrations} <= set(providers)
    for dto in courses:
        course, revision = stored_courses[dto["_id"]], stored_revisions[dto["_id"]]
        assert revision.course_id == course.id
        assert revision.title == dto["name"]
        assert revision.status == ("ACTIVE" if dto["status"] == "published" else "INACTIVE")
        assert course.remote_created_at == _dt(dto.get("createdAt"))
        assert (course.remote_deleted_at is not None) == (dto["status"] == "deleted")
        if dto.get("type") == "external":
            assert course.provider_id is not None
        else:
            assert course.provider_id is None

    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for attempt in attempts:
        pairs[(attempt["userId"], attempt["courseId"])].append(attempt)
    progressions = _rows(setup, CourseProgression)
    assert set(progressions) == {f"{u}:{c}" for u, c in pairs}
    retakes = 0
    for (user_id, course_id), group in pairs.items():
        row = progressions[f"{user_id}:{course_id}"]
        retakes += len(group) > 1
        assert row.user_id == record_id(integ, "users", user_id)
        assert row.course_revision_id == record_id(integ, "course_revisions", course_id)
        assert sorted(a["_id"] for a in row.remote_data["/courses/stats"]) == sorted(a["_id"] for a in group)
        completed = [_dt(a.get("completedAt")) for a in group if a.get("completedAt")]
        if completed:
            assert (row.status, row.completed_at) == ("COMPLETED", max(completed))
        elif any(a["progress"] > 0 for a in group):
            assert row.status == "IN_PROGRESS"
        else:
            assert row.status == "ENROLLED"
    assert retakes > 0, "the tenant should contain retakes for this test to mean something"

    # call budget: 1 token + one chain per list, stats split into P partitions (≤ P - 1 extra pages)
    with session_scope(setup.db, readonly=True) as session:
        run = session.get(SyncRun, outcome.run_id)
        assert run is not None
        partitions = [k for k in run.streams["chains"] if k.startswith("stats:")]
    minimal = (
        1
        + max(1, math.ceil(len(users) / 500))
        + max(1, math.ceil(len(courses) / 500))
        + max(1, math.ceil(len(attempts) / 500))
        + max(1, math.ceil(len(integrations) / 100))
    )
    calls = sb.control.counters()["total_calls"]
    assert len(partitions) == math.ceil(len(courses) / 7)
    assert calls <= minimal + len(partitions) - 1
    assert outcome.api_calls == calls


async def test_second_full_sync_changes_nothing(setup: SyncSetup) -> None:
    # small stats pages: many (user, course) pairs have attempts on several pages
    setup.sandbox.control.configure(
        page_sizes={"users": 500, "courses": 500, "stats": 25, "integrations": 100}
    )
    attempts = fetch_all(setup.sandbox, "/api/v2/courses/stats")
    pages_of_pair: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, attempt in enumerate(attempts):
        pages_of_pair[(attempt["userId"], attempt["courseId"])].add(index // 25)
    assert any(len(pages) > 1 for pages in pages_of_pair.values()), "no pair spans pages: test means nothing"

    first = await setup.engine.run_new(setup.integration_id, "FULL")
    assert first.state == "SUCCEEDED"
    before = {model: _changed(setup, model) for model in (User, Course, CourseRevision, CourseProgression)}
    second = await setup.engine.run_new(setup.integration_id, "FULL")
    assert second.state == "SUCCEEDED"
    assert second.changed_models == []
    after = {model: _changed(setup, model) for model in (User, Course, CourseRevision, CourseProgression)}
    assert after == before


def _changed(setup: SyncSetup, model: Any) -> dict[str, datetime]:
    return {remote_id: row.changed_at for remote_id, row in _rows(setup, model).items()}
