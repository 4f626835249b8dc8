"""Failures: the bulk API switched off fails the task (and puts provisional progressions right),
360Learning's bulk concurrency limit is absorbed, an enroll import in flight survives a restart."""

from __future__ import annotations

from typing import Any

from actions_support import ActionSetup, eventually
from kombo_check import contract
from sqlalchemy import select
from test_load_and_restart import _task
from test_progressions import COURSE, active_users, progression, upsert_own_course

from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ActionTask, Integration


async def _task_done(setup: ActionSetup, task_id: str) -> dict[str, Any]:
    async with setup.client() as client:

        async def done() -> dict[str, Any] | None:
            body = contract().check(
                "GetLmsCoursesBulkTaskId", await client.get(f"/v1/lms/courses/bulk/{task_id}")
            )
            return body["data"] if body["data"]["status"] != "PENDING" else None

        return await eventually(done, what=f"task {task_id}")


async def test_bulk_api_disabled_fails_the_task_and_the_enrollment(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup)
        setup.sandbox.control.configure(bulk_enabled=False)
        async with setup.client() as client:
            response = await client.post(
                "/v1/lms/courses/bulk", json={"items": [{"origin_id": "off-1", "course": COURSE}]}
            )
            task = await _task_done(setup, response.json()["data"]["task_id"])
            [(user_id, _)] = active_users(setup, 1)
            enrolled = await client.post(
                "/v1/lms/course-progressions",
                json={"user_id": user_id, "course_revision_id": course["revisions"][0]["id"]},
            )
        assert task["status"] == "FAILED"
        assert (
            task["error"]["code"] == "REMOTE.SERVICE_UNAVAILABLE" and "bulk API" in task["error"]["message"]
        )
        assert task["error"]["log_url"]
        progression_id = enrolled.json()["data"]["id"]

        async def gone() -> bool:
            async with setup.client() as client:
                listed = await client.get(
                    "/v1/lms/course-progressions", params={"ids": progression_id, "include_deleted": "true"}
                )
            [item] = listed.json()["data"]["results"]
            return item["remote_deleted_at"] is not None

        # the enrollment never happened at 360Learning: the provisional progression is marked deleted
        await eventually(gone, what="the failed enrollment to be marked deleted")
    assert setup.task_states()["FAILED"] == 2


async def test_bulk_concurrency_limit_is_retried_not_surfaced(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup)
    # 360Learning allows fewer operations than we run: one of ours meets 429 and is retried
    setup.sandbox.control.configure(max_concurrent_bulk=1, bulk_run_s=1.0)
    [(user_id, user_remote)] = active_users(setup, 1)
    async with setup.client() as client:
        upsert = await client.post(
            "/v1/lms/courses/bulk", json={"items": [{"origin_id": "conc-1", "course": COURSE}]}
        )
        enrolled = await client.post(
            "/v1/lms/course-progressions",
            json={"user_id": user_id, "course_revision_id": course["revisions"][0]["id"]},
        )
    assert enrolled.status_code == 200
    async with setup.worker():
        task = await _task_done(setup, upsert.json()["data"]["task_id"])
        await eventually(lambda: setup.attempts(user_remote, course["remote_id"]), what="the enrollment")
    assert task["status"] == "COMPLETED" and task["data"][0]["status"] == "SUCCEEDED"
    assert setup.sandbox.control.counters()["bulk_concurrency_rejections"] >= 1
    assert "FAILED" not in setup.task_states()


async def test_restart_while_an_enroll_import_is_in_flight(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup)
    setup.sandbox.control.configure(bulk_queue_s=0.5, bulk_start_s=0.5, bulk_run_s=1.5)
    [(user_id, user_remote)] = active_users(setup, 1)
    before = setup.bulk_operations_run()
    first = setup.new_worker()
    await first.start()
    async with setup.client() as client:
        enrolled = await client.post(
            "/v1/lms/course-progressions",
            json={"user_id": user_id, "course_revision_id": course["revisions"][0]["id"]},
        )
    with session_scope(setup.db, readonly=True) as session:
        task_id = session.scalars(select(ActionTask.id).where(ActionTask.kind == "enroll")).one()
    await eventually(
        lambda: _task(setup, task_id).remote_state.get("operation_id"), what="the import to be submitted"
    )
    await first.stop()
    assert _task(setup, task_id).state == "PENDING"  # released with its operation id
    async with setup.worker():
        await eventually(lambda: _task(setup, task_id).state == "COMPLETED", what="the resumed enrollment")
    assert setup.bulk_operations_run() == before + 1
    assert len(setup.attempts(user_remote, course["remote_id"])) == 1
    item = await progression(setup, enrolled.json()["data"]["id"])
    assert item["status"] == "ENROLLED" and item["remote_data"]["/courses/stats"]


async def test_an_action_whose_scope_is_missing_is_refused_before_anything_is_sent(
    setup: ActionSetup,
) -> None:
    """The last scope test found integrations:bulk missing: an upsert answers 403 naming the scope, and
    neither a task nor a call to 360Learning is made."""
    with session_scope(setup.db) as session:
        integration = session.get(Integration, setup.integration_id)
        assert integration is not None
        scopes = dict((integration.scope_test or {}).get("scopes") or {})
        scopes["integrations:bulk"] = {"status": "missing"}
        integration.scope_test = {**(integration.scope_test or {}), "scopes": scopes}
    setup.sandbox.control.reset_counters()
    async with setup.client() as client:
        response = await client.post(
            "/v1/lms/courses/bulk", json={"items": [{"origin_id": "scopeless-1", "course": COURSE}]}
        )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "INTEGRATION.PERMISSION_MISSING" and "integrations:bulk" in error["message"]
    assert setup.task_states() == {}
    assert sum(setup.sandbox.control.counters()["calls"].values()) == 0
