"""Upsert courses end to end: task PENDING → COMPLETED, courses in 360Learning (sandbox) and in our API."""

from __future__ import annotations

from typing import Any

from actions_support import ActionSetup, eventually
from kombo_check import contract
from sqlalchemy import select

from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import PendingChange, WebhookEvent

COURSE = {
    "type": "EXTERNAL",
    "title": "Building LMS integrations",
    "description": "Deep links into our product.",
    "course_url": "https://content.example/courses/lms-1",
    "thumbnail_url": "https://content.example/img/lms-1.png",
    "duration": 45,
    "languages": ["en-US", "fr", "de-CH"],
}


async def _finished_task(setup: ActionSetup, task_id: str) -> dict[str, Any]:
    async with setup.client() as client:

        async def done() -> dict[str, Any] | None:
            response = await client.get(f"/v1/lms/courses/bulk/{task_id}")
            body = contract().check("GetLmsCoursesBulkTaskId", response)
            return body if body["data"]["status"] != "PENDING" else None

        return await eventually(done, what=f"task {task_id} to finish")


async def test_upsert_then_reupsert_updates_the_same_course(setup: ActionSetup) -> None:
    items = [
        {"origin_id": "lms-1", "course": COURSE},
        {"origin_id": "lms-2", "course": {**COURSE, "title": "Second", "languages": None, "duration": None}},
        {"origin_id": "bad-1", "course": {**COURSE, "title": ""}},
    ]
    async with setup.worker(), setup.client() as client:
        response = await client.post("/v1/lms/courses/bulk", json={"items": items})
        body = contract().check("PostLmsCoursesBulk", response)
        assert response.headers["Concurrency-Remaining"] == "29"
        task_id = body["data"]["task_id"]
        pending = contract().check(
            "GetLmsCoursesBulkTaskId", await client.get(f"/v1/lms/courses/bulk/{task_id}")
        )
        assert pending["data"]["status"] in {"PENDING", "COMPLETED"}
        finished = await _finished_task(setup, task_id)
    data = finished["data"]
    assert data["status"] == "COMPLETED"
    by_origin = {entry["origin_id"]: entry for entry in data["data"]}
    assert [e["origin_id"] for e in data["data"]] == ["lms-1", "lms-2", "bad-1"]
    assert by_origin["bad-1"]["status"] == "FAILED"
    assert by_origin["bad-1"]["error"]["code"] == "PLATFORM.INPUT_INVALID"
    assert "course.title" in by_origin["bad-1"]["error"]["message"]
    assert by_origin["lms-1"]["status"] == by_origin["lms-2"]["status"] == "SUCCEEDED"

    # 360Learning (the sandbox) has the course with the mapped fields
    remote = setup.external_course("lms-1")
    assert remote is not None and remote["name"] == "Building LMS integrations"
    assert remote["type"] == "external" and remote["externalPlatform"] == "lmsbridge"
    assert remote["defaultLang"] == "en" and remote["duration"] == 45
    assert sorted(t["lang"] for t in remote["translations"]) == ["de", "fr"]
    assert setup.external_course("bad-1") is None

    # read-your-writes: our API serves the courses at once, with origin_id, provider and revision
    course_id = by_origin["lms-1"]["data"]["id"]
    async with setup.client() as client:
        listed = contract().check(
            "GetLmsCourses", await client.get("/v1/lms/courses", params={"ids": course_id})
        )
    [course] = listed["data"]["results"]
    assert course["origin_id"] == "lms-1" and course["remote_id"] == remote["_id"]
    assert course["provider"]["name"] == "lmsbridge"
    assert course["revisions"][0]["title"] == "Building LMS integrations"
    assert course["revisions"][0]["status"] == "ACTIVE"

    # the same origin_id again updates the same 360Learning course and the same Kombo course
    async with setup.worker(), setup.client() as client:
        again = await client.post(
            "/v1/lms/courses/bulk",
            json={"items": [{"origin_id": "lms-1", "course": {**COURSE, "title": "Renamed"}}]},
        )
        second = await _finished_task(setup, again.json()["data"]["task_id"])
        assert second["data"]["data"][0]["data"]["id"] == course_id
        listed = await client.get("/v1/lms/courses", params={"ids": course_id})
    assert listed.json()["data"]["results"][0]["revisions"][0]["title"] == "Renamed"
    renamed = setup.external_course("lms-1")
    assert renamed is not None and renamed["_id"] == remote["_id"] and renamed["name"] == "Renamed"
    # the confirmed write is announced at once: a data-changed event, nothing left waiting for a sync
    with session_scope(setup.db, readonly=True) as session:
        pending = set(
            session.scalars(
                select(PendingChange.model).where(PendingChange.integration_id == setup.integration_id)
            )
        )
        announced = [
            {m["name"] for m in event.payload["data"]["changed_models"]}
            for event in session.scalars(
                select(WebhookEvent)
                .where(
                    WebhookEvent.integration_id == setup.integration_id, WebhookEvent.type == "data-changed"
                )
                .order_by(WebhookEvent.created_at)
            )
        ]
    assert pending == set()
    # the setup's sync, then one per upsert (the first one also created our provider integration)
    courses = {"lms_courses", "lms_course_revisions"}
    assert announced[1:] == [{*courses, "lms_course_providers"}, courses], announced
    # the provider integration was created once and is remembered
    platforms = [i["externalPlatform"] for i in setup.sandbox_get("/integrations")]
    assert platforms.count("lmsbridge") == 1
