"""Sandbox mutations, then a DELTA and a FULL sync: the right records change, and only those.

What a DELTA cannot see (documented in docs/sync.md): progress of attempts that are not completed and
new uncompleted attempts (stats only filter on completedAt). The next FULL sync repairs both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sync_support import SyncSetup

from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import Course, CourseProgression, CourseRevision, User
from sandbox_truth import fetch_all


def _snapshot(setup: SyncSetup) -> dict[str, dict[str, Any]]:
    """model → remote_id → (changed_at, row) for every stored record of the integration."""
    out: dict[str, dict[str, Any]] = {}
    with session_scope(setup.db, readonly=True) as session:
        for name, model in (
            ("users", User),
            ("courses", Course),
            ("course_revisions", CourseRevision),
            ("course_progressions", CourseProgression),
        ):
            rows = session.scalars(select(model).where(model.integration_id == setup.integration_id))
            out[name] = {row.remote_id: row for row in rows}
    return out


def _moved(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    moved: dict[str, set[str]] = {}
    for model, rows in after.items():
        moved[model] = {
            rid
            for rid, row in rows.items()
            if rid not in before[model] or before[model][rid].changed_at != row.changed_at
        }
    return moved


def _first(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for item in items:
        if all(item.get(k) == v for k, v in match.items()):
            return item
    raise AssertionError(f"the test tenant has no record matching {match}")


async def test_mutations_delta_then_full(setup: SyncSetup) -> None:
    sb, control = setup.sandbox, setup.sandbox.control
    first = await setup.engine.run_new(setup.integration_id, "FULL")
    assert first.state == "SUCCEEDED", first.error
    before = _snapshot(setup)

    users = [u for u in fetch_all(sb, "/api/v2/users") if u["status"] == "active"]
    courses = fetch_all(sb, "/api/v2/courses")
    attempts = fetch_all(sb, "/api/v2/courses/stats")
    renamed, removed = users[0], users[1]
    control.update_user(renamed["_id"], firstName="Renamed")
    control.delete_user(removed["_id"])
    published = [c for c in courses if c["status"] == "published"]
    edited, archived, deleted = published[0], published[1], published[2]
    restored = _first(courses, status="archived")
    control.edit_course(edited["_id"], name="A new title")
    control.set_course_status(archived["_id"], "archived")
    control.set_course_status(deleted["_id"], "deleted")
    control.set_course_status(restored["_id"], "published")
    open_attempts = [a for a in attempts if not a.get("completedAt") and 0 < a["progress"] < 90]
    progressed, completed = open_attempts[0], open_attempts[1]
    control.update_attempt(progressed["_id"], progress=progressed["progress"] + 5)
    control.update_attempt(completed["_id"], progress=100)
    done = _first(attempts, progress=100)
    control.create_attempt(done["userId"], done["courseId"], progress=10)

    delta = await setup.engine.run_new(setup.integration_id, "DELTA")
    assert delta.state == "SUCCEEDED", delta.error
    after_delta = _snapshot(setup)
    moved = _moved(before, after_delta)
    pair = lambda a: f"{a['userId']}:{a['courseId']}"  # noqa: E731
    assert moved["users"] == {renamed["_id"], removed["_id"]}
    touched_courses = {edited["_id"], archived["_id"], deleted["_id"], restored["_id"]}
    # course and revision share the course payload (remote_data), so both move together
    assert moved["courses"] == moved["course_revisions"] == touched_courses
    assert moved["course_progressions"] == {pair(completed)}
    assert after_delta["users"][renamed["_id"]].first_name == "Renamed"
    assert after_delta["users"][removed["_id"]].status == "INACTIVE"
    assert after_delta["users"][removed["_id"]].remote_deleted_at is not None
    assert after_delta["course_revisions"][edited["_id"]].title == "A new title"
    assert after_delta["course_revisions"][archived["_id"]].status == "INACTIVE"
    assert after_delta["course_revisions"][restored["_id"]].status == "ACTIVE"
    assert after_delta["courses"][deleted["_id"]].remote_deleted_at is not None
    assert after_delta["course_progressions"][pair(completed)].status == "COMPLETED"
    # nested revision changes move the course's tree_changed_at (updated_after on /lms/courses)
    assert (
        after_delta["courses"][edited["_id"]].tree_changed_at
        > before["courses"][edited["_id"]].tree_changed_at
    )

    full = await setup.engine.run_new(setup.integration_id, "FULL")
    assert full.state == "SUCCEEDED", full.error
    after_full = _snapshot(setup)
    moved = _moved(after_delta, after_full)
    # the delta could not see in-progress changes or uncompleted retakes; the full sync repairs them
    assert moved["course_progressions"] == {pair(progressed), pair(done)}
    assert moved["users"] == moved["courses"] == moved["course_revisions"] == set()
    progression = after_full["course_progressions"][pair(progressed)]
    stored = {a["_id"]: a for a in progression.remote_data["/courses/stats"]}
    assert stored[progressed["_id"]]["progress"] == progressed["progress"] + 5
    retaken = after_full["course_progressions"][pair(done)]
    assert (
        len(retaken.remote_data["/courses/stats"]) == len([a for a in attempts if pair(a) == pair(done)]) + 1
    )
    assert retaken.status == "COMPLETED"  # a retake does not undo the earlier completion
    assert isinstance(retaken.changed_at, datetime)
