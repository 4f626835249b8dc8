"""Reliability: a restart while a bulk operation is in flight resumes polling it; a burst of 1,000
enroll calls becomes a handful of statistics imports; the 31st concurrent action gets 429."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from actions_support import ActionSetup, eventually
from kombo_check import contract
from sqlalchemy import func, select, update
from test_progressions import COURSE, active_users, upsert_own_course

from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ActionTask, CourseProgression


def _task(setup: ActionSetup, task_id: str) -> ActionTask:
    with session_scope(setup.db, readonly=True) as session:
        task = session.get(ActionTask, task_id)
        assert task is not None
        session.expunge(task)
        return task


async def test_restart_during_a_pending_upsert_resumes_the_same_operation(setup: ActionSetup) -> None:
    # slow bulk processing: the worker is still polling when it dies
    setup.sandbox.control.configure(bulk_queue_s=0.5, bulk_start_s=0.5, bulk_run_s=1.5)
    before = setup.bulk_operations_run()
    first = setup.new_worker()
    await first.start()
    async with setup.client() as client:
        response = await client.post(
            "/v1/lms/courses/bulk", json={"items": [{"origin_id": "restart-1", "course": COURSE}]}
        )
        task_id = response.json()["data"]["task_id"]
    operation_id = await eventually(
        lambda: _task(setup, task_id).remote_state.get("batches", [{}])[0].get("operation_id"),
        what="the bulk operation to be submitted",
    )
    await first.stop()
    # what a crashed worker leaves behind: RUNNING with a heartbeat that stopped long ago
    with session_scope(setup.db) as session:
        session.execute(
            update(ActionTask)
            .where(ActionTask.id == task_id)
            .values(state="RUNNING", heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    assert _task(setup, task_id).state == "RUNNING"
    async with setup.worker(), setup.client() as client:

        async def completed() -> dict[str, Any] | None:
            data = contract().check(
                "GetLmsCoursesBulkTaskId", await client.get(f"/v1/lms/courses/bulk/{task_id}")
            )
            return data["data"] if data["data"]["status"] == "COMPLETED" else None

        task = await eventually(completed, what="the resumed task")
    assert task["data"][0]["status"] == "SUCCEEDED"
    # the operation was polled again, not submitted twice
    assert _task(setup, task_id).remote_state["batches"][0]["operation_id"] == operation_id
    assert setup.bulk_operations_run() == before + 1
    assert setup.external_course("restart-1") is not None


# a load test: ~20-40 s alone, several times that on a 2-core machine shared with other suites
@pytest.mark.timeout(600)
async def test_burst_of_1000_enrollments_is_coalesced(setup: ActionSetup) -> None:
    """1,000 enroll calls from 30 concurrent clients (with at most 30 actions in flight per integration,
    that is what "at once" can mean): no 429, all progressions visible, at most 5 bulk operations."""
    users = active_users(setup, 100)
    per_course = len(users)
    courses_needed = -(-1000 // per_course)
    async with setup.worker():
        async with setup.client() as client:
            items = [
                {"origin_id": f"burst-{n}", "course": {**COURSE, "title": f"B{n}"}}
                for n in range(courses_needed)
            ]
            task_id = (await client.post("/v1/lms/courses/bulk", json={"items": items})).json()["data"][
                "task_id"
            ]

            async def done() -> dict[str, Any] | None:
                data = (await client.get(f"/v1/lms/courses/bulk/{task_id}")).json()["data"]
                return data if data["status"] == "COMPLETED" else None

            task = await eventually(done, what="the burst courses")
            # 28 upserted courses are read back with one scan, not one call each
            calls = setup.sandbox.control.counters()["calls"]
            assert calls.get("GET /api/v2/courses/{courseId}", 0) == 0 and calls["GET /api/v2/courses"] >= 1
            course_ids = [entry["data"]["id"] for entry in task["data"]]
            listed = await client.get(
                "/v1/lms/courses", params={"ids": ",".join(course_ids), "page_size": 250}
            )
        revisions = [c["revisions"][0]["id"] for c in listed.json()["data"]["results"]]
        pairs = [(u, r) for r in revisions for u, _ in users][:1000]
        assert len(pairs) == 1000
        before = setup.bulk_operations_run()
        statuses: list[int] = []
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for pair in pairs:
            queue.put_nowait(pair)

        async def client_loop() -> None:
            # a generous timeout: 30 clients queue on one SQLite writer, and CI machines may be shared
            async with setup.client(timeout=120, limits=httpx.Limits(max_connections=1)) as one:
                while not queue.empty():
                    user_id, revision_id = queue.get_nowait()
                    response = await one.post(
                        "/v1/lms/course-progressions",
                        json={"user_id": user_id, "course_revision_id": revision_id},
                    )
                    statuses.append(response.status_code)

        await asyncio.gather(*(client_loop() for _ in range(30)))
        assert statuses.count(200) == 1000, sorted(set(statuses))

        def reconciled() -> int | None:
            with session_scope(setup.db, readonly=True) as session:
                count = session.scalar(
                    select(func.count())
                    .select_from(CourseProgression)
                    .where(
                        CourseProgression.integration_id == setup.integration_id,
                        CourseProgression.course_id.in_(course_ids),
                        CourseProgression.remote_deleted_at.is_(None),
                        CourseProgression.remote_data["/courses/stats"].as_string() != "[]",
                    )
                )
            return count if count == 1000 else None

        await eventually(reconciled, within=120, what="1,000 reconciled progressions")
    assert setup.bulk_operations_run() - before <= 5
    assert setup.task_states() == {"COMPLETED": 1001}
    async with setup.client() as client:
        seen = 0
        cursor = None
        while True:
            params = {
                "course_ids": ",".join(course_ids),
                "page_size": 250,
                **({"cursor": cursor} if cursor else {}),
            }
            page = (await client.get("/v1/lms/course-progressions", params=params)).json()["data"]
            seen += sum(1 for p in page["results"] if p["remote_data"]["/courses/stats"])
            cursor = page["next"]
            if not cursor:
                break
    assert seen == 1000


async def test_the_31st_concurrent_action_gets_429(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup, "limit-1")
    # every 360Learning answer takes 400 ms, so 40 simultaneous deactivations overlap
    setup.sandbox.control.set_latency(400, 0)
    async with setup.client(limits=httpx.Limits(max_connections=60)) as client:
        responses = await asyncio.gather(
            *(client.post(f"/v1/lms/courses/{course['id']}/deactivate", json={}) for _ in range(40))
        )
    setup.sandbox.control.set_latency(0, 0)
    refused = [r for r in responses if r.status_code == 429]
    accepted = [r for r in responses if r.status_code == 200]
    assert len(accepted) >= 30 and refused and len(accepted) + len(refused) == 40
    for response in refused:
        body = contract().check("PostLmsCoursesCourseIdDeactivate", response)
        assert body["error"]["code"] == "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED"
        assert response.headers["Concurrency-Remaining"] == "0"
    assert {r.headers["Concurrency-Remaining"] for r in accepted} <= {str(n) for n in range(30)}
