"""Enroll and complete end to end (sandbox state, then our API), idempotency, refusals, deactivate."""

from __future__ import annotations

from typing import Any

from actions_support import ActionSetup, eventually
from kombo_check import contract
from sqlalchemy import select

from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import Course, User
from lmsbridge.sync.engine import SyncEngine

COURSE = {"type": "EXTERNAL", "title": "Own course", "course_url": "https://content.example/c/own"}


async def upsert_own_course(setup: ActionSetup, origin_id: str = "own-1") -> dict[str, Any]:
    """Upsert a course through the API and return it as GET /lms/courses serves it."""
    async with setup.client() as client:
        response = await client.post(
            "/v1/lms/courses/bulk", json={"items": [{"origin_id": origin_id, "course": COURSE}]}
        )
        task_id = response.json()["data"]["task_id"]

        async def done() -> dict[str, Any] | None:
            body = (await client.get(f"/v1/lms/courses/bulk/{task_id}")).json()["data"]
            return body if body["status"] == "COMPLETED" else None

        task = await eventually(done, what="the upsert task")
        course_id = task["data"][0]["data"]["id"]
        listed = await client.get("/v1/lms/courses", params={"ids": course_id})
        return dict(listed.json()["data"]["results"][0])


def active_users(setup: ActionSetup, count: int) -> list[tuple[str, str]]:
    """(Kombo id, remote id) of active users with a mail."""
    with session_scope(setup.db, readonly=True) as session:
        rows = session.execute(
            select(User.id, User.remote_id)
            .where(
                User.integration_id == setup.integration_id,
                User.status == "ACTIVE",
                User.remote_deleted_at.is_(None),
            )
            .order_by(User.id)
            .limit(count)
        )
        return [(r.id, r.remote_id) for r in rows]


def native_course(setup: ActionSetup) -> Course:
    with session_scope(setup.db, readonly=True) as session:
        for course in session.scalars(select(Course).where(Course.integration_id == setup.integration_id)):
            dto = (course.remote_data or {}).get("/courses") or {}
            if dto.get("type") == "native" and dto.get("status") == "published":
                session.expunge(course)
                return course
    raise AssertionError("the tenant has no published native course")


async def progression(setup: ActionSetup, progression_id: str) -> dict[str, Any]:
    async with setup.client() as client:
        response = await client.get("/v1/lms/course-progressions", params={"ids": progression_id})
        body = contract().check("GetLmsCourseProgressions", response)
    [item] = body["data"]["results"]
    return dict(item)


async def test_enroll_complete_and_their_idempotency(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup)
        revision = course["revisions"][0]
        [(user_id, user_remote)] = active_users(setup, 1)
        before = setup.bulk_operations_run()
        async with setup.client() as client:
            response = await client.post(
                "/v1/lms/course-progressions", json={"user_id": user_id, "course_revision_id": revision["id"]}
            )
            enrolled = contract().check("PostLmsCourseProgressions", response)
        data = enrolled["data"]
        assert data["status"] == "ENROLLED" and data["user_id"] == user_id
        assert data["course_revision_id"] == revision["id"] and enrolled["warnings"]
        assert response.headers["Concurrency-Remaining"] == "29"
        progression_id = data["id"]

        # 360Learning gets the attempt; the same progression is then reconciled with it
        attempts = await eventually(
            lambda: setup.attempts(user_remote, course["remote_id"]), what="the attempt"
        )
        assert len(attempts) == 1 and attempts[0]["progress"] == 0
        reconciled = await eventually(
            lambda: _with_attempts(setup, progression_id), what="the reconciled progression"
        )
        assert reconciled["status"] == "ENROLLED"
        assert reconciled["remote_data"]["/courses/stats"][0]["_id"] == attempts[0]["_id"]
        assert setup.bulk_operations_run() == before + 1

        # enrolling again returns the same progression and sends nothing (remote: ids work too)
        async with setup.client() as client:
            again = await client.post(
                "/v1/lms/course-progressions",
                json={
                    "user_id": f"remote:{user_remote}",
                    "course_revision_id": f"remote:{course['remote_id']}",
                },
            )
        assert contract().check("PostLmsCourseProgressions", again)["data"]["id"] == progression_id
        assert "already enrolled" in again.json()["warnings"][0]["message"]
        assert setup.task_states().get("PENDING", 0) == 0

        # complete: returned COMPLETED at once, then the SAME attempt is completed at 360Learning
        async with setup.client() as client:
            response = await client.post(
                f"/v1/lms/course-progressions/{progression_id}/complete", json={"score": 93}
            )
            completed = contract().check("PostLmsCourseProgressionsCourseProgressionIdComplete", response)
        assert completed["data"]["status"] == "COMPLETED" and completed["data"]["completed_at"]

        def completed_remote() -> list[dict[str, Any]] | None:
            found = setup.attempts(user_remote, course["remote_id"])
            return found if any(a.get("completedAt") for a in found) else None

        final = await eventually(completed_remote, what="the completed attempt")
        assert len(final) == 1 and final[0]["_id"] == attempts[0]["_id"]
        assert final[0]["progress"] == 100 and final[0]["score"] == 93
        after = await eventually(lambda: _with_completed_attempt(setup, progression_id), what="reconciled")
        assert after["status"] == "COMPLETED" and after["id"] == progression_id
        operations = setup.bulk_operations_run()

        # completing again is a no-op success
        async with setup.client() as client:
            response = await client.post(f"/v1/lms/course-progressions/{progression_id}/complete")
            body = contract().check("PostLmsCourseProgressionsCourseProgressionIdComplete", response)
        assert body["data"]["status"] == "COMPLETED"
        assert setup.task_states().get("PENDING", 0) == 0 and setup.bulk_operations_run() == operations


async def _with_attempts(setup: ActionSetup, progression_id: str) -> dict[str, Any] | None:
    item = await progression(setup, progression_id)
    return item if item["remote_data"]["/courses/stats"] else None


async def _with_completed_attempt(setup: ActionSetup, progression_id: str) -> dict[str, Any] | None:
    item = await progression(setup, progression_id)
    attempts = item["remote_data"]["/courses/stats"]
    return item if attempts and attempts[0].get("completedAt") else None


async def test_refusals_name_the_reason_and_the_id(setup: ActionSetup) -> None:
    [(user_id, _)] = active_users(setup, 1)
    native = native_course(setup)
    async with setup.client() as client:
        response = await client.post(
            "/v1/lms/course-progressions",
            json={"user_id": user_id, "course_revision_id": f"remote:{native.remote_id}"},
        )
        body = contract().check("PostLmsCourseProgressions", response)
        assert response.status_code == 404 and body["error"]["code"] == "INTEGRATION.ACTION_NOT_AVAILABLE"
        assert "native" in body["error"]["message"] and body["error"]["log_url"]
        log = await client.get(body["error"]["log_url"].replace("http://127.0.0.1:9", ""))
        assert log.status_code == 200

        response = await client.post(
            "/v1/lms/course-progressions", json={"user_id": "remote:nobody", "course_revision_id": "x"}
        )
        body = contract().check("PostLmsCourseProgressions", response)
        assert response.status_code == 400 and "remote:nobody" in body["error"]["message"]

        response = await client.post("/v1/lms/course-progressions/NoSuchProgression1234567/complete")
        body = contract().check("PostLmsCourseProgressionsCourseProgressionIdComplete", response)
        assert response.status_code == 404 and "NoSuchProgression1234567" in body["error"]["message"]

        response = await client.post("/v1/lms/courses/remote:000000000000000000000000/deactivate", json={})
        body = contract().check("PostLmsCoursesCourseIdDeactivate", response)
        assert response.status_code == 404 and "remote:000000000000000000000000" in body["error"]["message"]

        response = await client.get("/v1/lms/courses/bulk/unknown-task")
        assert response.status_code == 404 and "unknown-task" in response.json()["error"]["message"]


async def test_input_validation_per_field(setup: ActionSetup) -> None:
    cases = [
        ({"languages": ["english"]}, "course.languages[0]"),
        ({"title": None}, "course.title"),
        ({"duration": 0}, "course.duration"),
        ({"course_url": "not a url"}, "course.course_url"),
        ({"type": "NATIVE"}, "course.type"),
    ]
    items = [{"origin_id": f"v{n}", "course": {**COURSE, **change}} for n, (change, _) in enumerate(cases)]
    async with setup.client() as client:
        response = await client.post("/v1/lms/courses/bulk", json={"items": items})
        body = contract().check("PostLmsCoursesBulk", response)
        assert "5 of 5 items failed validation" in body["warnings"][1]["message"]
        for payload, needle in [
            ({"items": []}, "items"),
            ({"items": [{"course": COURSE}]}, "items[0].origin_id"),
            ({"items": [{"origin_id": "a", "course": COURSE}] * 2}, "appears twice"),
        ]:
            response = await client.post("/v1/lms/courses/bulk", json=payload)
            error = contract().check("PostLmsCoursesBulk", response)["error"]
            assert response.status_code == 400 and needle in error["message"], error
        for payload, needle in [
            ({"score": 101}, "score"),
            ({"completed_at": "2024-13-45"}, "completed_at"),
            ({"completed_at": "yesterday"}, "completed_at"),
            ({"score": "93"}, "score"),
        ]:
            response = await client.post("/v1/lms/course-progressions/whatever/complete", json=payload)
            error = contract().check("PostLmsCourseProgressionsCourseProgressionIdComplete", response)[
                "error"
            ]
            assert response.status_code == 400 and needle in error["message"], error
        response = await client.post("/v1/lms/course-progressions", json={"user_id": "x"})
        error = contract().check("PostLmsCourseProgressions", response)["error"]
        assert response.status_code == 400 and "course_revision_id" in error["message"]
    async with setup.worker(), setup.client() as client:
        task_id = body["data"]["task_id"]

        async def done() -> dict[str, Any] | None:
            data = (await client.get(f"/v1/lms/courses/bulk/{task_id}")).json()["data"]
            return data if data["status"] == "COMPLETED" else None

        task = await eventually(done, what="the all-invalid task")
    for entry, (_, needle) in zip(task["data"], cases, strict=True):
        assert entry["status"] == "FAILED" and needle in entry["error"]["message"]
    assert all(setup.external_course(f"v{n}") is None for n in range(len(cases)))


async def test_deactivate_archives_and_returns_the_inactive_revision(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup, "to-deactivate")
    async with setup.client() as client:
        response = await client.post(f"/v1/lms/courses/{course['id']}/deactivate", json={})
        body = contract().check("PostLmsCoursesCourseIdDeactivate", response)
    assert body["data"]["id"] == course["id"] and body["data"]["origin_id"] == "to-deactivate"
    assert body["data"]["revisions"][0]["status"] == "INACTIVE"
    assert setup.sandbox_get(f"/courses/{course['remote_id']}")["status"] == "archived"
    # a native course by its remote id works too; our API serves it INACTIVE at once
    native = native_course(setup)
    async with setup.client() as client:
        response = await client.post(f"/v1/lms/courses/remote:{native.remote_id}/deactivate")
        body = contract().check("PostLmsCoursesCourseIdDeactivate", response)
        listed = await client.get("/v1/lms/courses", params={"ids": native.id})
    assert body["data"]["revisions"][0]["status"] == "INACTIVE"
    assert listed.json()["data"]["results"][0]["revisions"][0]["status"] == "INACTIVE"
    assert setup.sandbox_get(f"/courses/{native.remote_id}")["status"] == "archived"


async def test_deactivated_course_comes_back_by_upsert_or_restore(setup: ActionSetup) -> None:
    async with setup.worker():
        course = await upsert_own_course(setup, "comeback")
        async with setup.client() as client:
            response = await client.post(f"/v1/lms/courses/{course['id']}/deactivate")
            assert response.json()["data"]["revisions"][0]["status"] == "INACTIVE"
        again = await upsert_own_course(setup, "comeback")
    assert again["id"] == course["id"] and again["revisions"][0]["status"] == "ACTIVE"
    assert setup.sandbox_get(f"/courses/{course['remote_id']}")["status"] == "published"

    # deactivated again, then restored in 360Learning: the next (delta) sync brings it back
    native = native_course(setup)
    async with setup.client() as client:
        await client.post(f"/v1/lms/courses/{native.id}/deactivate")
    setup.sandbox.control.set_course_status(native.remote_id, "published")
    outcome = await SyncEngine(setup.db, setup.box).run_new(setup.integration_id, "DELTA")
    assert outcome.state == "SUCCEEDED", outcome.error
    async with setup.client() as client:
        listed = await client.get("/v1/lms/courses", params={"ids": native.id})
    assert listed.json()["data"]["results"][0]["revisions"][0]["status"] == "ACTIVE"
