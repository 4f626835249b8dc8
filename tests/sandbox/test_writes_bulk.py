"""Course archive, integrations CRUD, external course lookup, the bulk engine and stats import rules."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_openapi import check, follow

from lmsbridge.sandbox.learning360.testing import RunningSandbox

OPS = "/api/v2/bulk/operations/{bulkOperationId}"


def _integration(sb: RunningSandbox) -> dict[str, Any]:
    return next(i for i in sb.tenant.integrations.items if i is not None)


def _submit(api: httpx.Client, method: str, path: str, items: list[Any]) -> str:
    response = api.request(method, path, json={"input": items})
    template = "/api/v2/bulk/integrations/{integrationId}/" + path.rsplit("/", 1)[1]
    check("bulk", method, template, response)
    assert response.status_code == 202 and response.content == b""
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:") and "/api/v2/bulk/operations/" in location
    return location.rsplit("/", 1)[1]


def _results(api: httpx.Client, op_id: str) -> list[dict[str, Any]]:
    op = check("bulk", "GET", OPS, api.get(f"/api/v2/bulk/operations/{op_id}"))
    assert op["status"] == "completed", op
    return check("bulk", "GET", OPS + "/results", api.get(f"/api/v2/bulk/operations/{op_id}/results"))  # type: ignore[no-any-return]


def test_archive_restore_keeps_modified_at(sandbox: RunningSandbox, api: httpx.Client) -> None:
    course = next(c for c in sandbox.tenant.courses.items if c["status"] == "published")
    path = "/api/v2/courses/{courseId}/archive"
    archived = check(
        "core", "PUT", path, api.put(f"/api/v2/courses/{course['_id']}/archive", json={"archived": True})
    )
    assert archived["status"] == "archived" and archived["modifiedAt"] == course["modifiedAt"]
    restored = check(
        "core", "PUT", path, api.put(f"/api/v2/courses/{course['_id']}/archive", json={"archived": False})
    )
    assert restored["status"] == "published" and restored["modifiedAt"] == course["modifiedAt"]
    missing = api.put("/api/v2/courses/0123456789abcdef01234567/archive", json={"archived": True})
    assert check("core", "PUT", path, missing)["error"]["code"] == "courseNotFound"


def test_archive_on_inactive_integration(sandbox: RunningSandbox, api: httpx.Client) -> None:
    integration = _integration(sandbox)
    row = next(r for (i, _), r in sandbox.tenant.external_index.items() if i == integration["_id"])
    sandbox.control.set_integration_inactive(integration["_id"])
    response = api.put(f"/api/v2/courses/{sandbox.tenant.courses.ids[row]}/archive", json={"archived": True})
    assert (
        check("core", "PUT", "/api/v2/courses/{courseId}/archive", response)["error"]["code"]
        == "integrationInactive"
    )


def test_integration_lifecycle(sandbox: RunningSandbox, api: httpx.Client) -> None:
    t = sandbox.tenant
    body = {"externalPlatform": "lmsbridge", "authorId": t.users.ids[1], "groupId": t.root_group_id}
    created = check("core", "POST", "/api/v2/integrations", api.post("/api/v2/integrations", json=body))
    dup = api.post("/api/v2/integrations", json=body)
    assert check("core", "POST", "/api/v2/integrations", dup)["error"]["code"] == "duplicateExternalPlatform"
    bad_group = api.post("/api/v2/integrations", json={**body, "groupId": "0123456789abcdef01234567"})
    assert check("core", "POST", "/api/v2/integrations", bad_group)["error"]["code"] == "groupNotFound"
    item = "/api/v2/integrations/{integrationId}"
    patched = check(
        "core",
        "PATCH",
        item,
        api.patch(f"/api/v2/integrations/{created['_id']}", json={"defaultProgress": 5}),
    )
    assert patched["defaultProgress"] == 5 and "_id" not in patched
    listed, _ = follow(api, "/api/v2/integrations", {"externalPlatform[eq]": "lmsbridge"})
    assert [i["_id"] for i in listed] == [created["_id"]]
    # upsert a course through it, then delete the integration: its courses get archived
    op = _submit(
        api,
        "PUT",
        f"/api/v2/bulk/integrations/{created['_id']}/courses",
        [
            {
                "externalId": "x-1",
                "name": "X",
                "launchUrl": "https://x.example/1",
                "defaultLang": "en",
                "sources": [],
                "subjects": [],
            }
        ],
    )
    course_id = _results(api, op)[0]["resourceId"]
    external = api.get(f"/api/v2/integrations/{created['_id']}/courses/x-1")
    ext_path = "/api/v2/integrations/{integrationId}/courses/{externalId}"
    assert check("core", "GET", ext_path, external)["courseId"] == course_id
    unknown = api.get(f"/api/v2/integrations/{created['_id']}/courses/nope")
    assert check("core", "GET", ext_path, unknown)["error"]["code"] == "courseNotBelongToIntegration"
    deleted = api.delete(f"/api/v2/integrations/{created['_id']}")
    check("core", "DELETE", item, deleted)
    assert deleted.status_code == 204
    assert api.get(f"/api/v2/courses/{course_id}").json()["status"] == "archived"
    gone = api.delete(f"/api/v2/integrations/{created['_id']}")
    assert check("core", "DELETE", item, gone)["error"]["code"] == "integrationNotFound"


def test_upsert_creates_then_replaces_external_course(sandbox: RunningSandbox, api: httpx.Client) -> None:
    integration = _integration(sandbox)
    path = f"/api/v2/bulk/integrations/{integration['_id']}/courses"
    item = {
        "externalId": "new-1",
        "name": "First",
        "launchUrl": "https://p.example/1",
        "defaultLang": "en",
        "sources": [{"name": "P"}],
        "subjects": ["s"],
        "duration": 30,
    }
    bad = {
        "externalId": "bad",
        "name": "",
        "launchUrl": "x",
        "defaultLang": "en",
        "sources": [],
        "subjects": [],
    }
    results = _results(api, _submit(api, "PUT", path, [item, bad]))
    assert [r["status"] for r in results] == ["success", "error"] and results[1]["errorMessage"]
    course = api.get(f"/api/v2/courses/{results[0]['resourceId']}").json()
    assert course["type"] == "external" and course["externalPlatform"] == integration["externalPlatform"]
    assert course["groupId"] == integration["groupId"] and course["duration"] == 30
    sandbox.control.advance_clock(5)
    again = _results(api, _submit(api, "PUT", path, [{**item, "name": "Renamed"}]))
    assert again[0]["resourceId"] == results[0]["resourceId"]
    replaced = api.get(f"/api/v2/courses/{again[0]['resourceId']}").json()
    assert replaced["name"] == "Renamed" and replaced["modifiedAt"] > course["modifiedAt"]
    archived = _results(
        api, _submit(api, "DELETE", path, [{"externalId": "new-1"}, {"externalId": "missing"}])
    )
    assert [r["status"] for r in archived] == ["success", "error"]
    assert api.get(f"/api/v2/courses/{again[0]['resourceId']}").json()["status"] == "archived"


def test_bulk_input_errors(sandbox: RunningSandbox, api: httpx.Client) -> None:
    integration = _integration(sandbox)
    path = f"/api/v2/bulk/integrations/{integration['_id']}/stats"
    tmpl = "/api/v2/bulk/integrations/{integrationId}/stats"
    not_array = api.post(path, json={"input": {}})
    assert check("bulk", "POST", tmpl, not_array)["error"]["code"] == "invalidInput"
    too_long = api.post(path, json={"input": [{}] * 10_001})
    assert check("bulk", "POST", tmpl, too_long)["error"]["code"] == "inputTooLong"
    archive_long = api.request(
        "DELETE", f"/api/v2/bulk/integrations/{integration['_id']}/courses", json={"input": [{}] * 1001}
    )
    assert archive_long.json()["error"]["code"] == "inputTooLong"
    missing = api.post("/api/v2/bulk/integrations/0123456789abcdef01234567/stats", json={"input": []})
    assert check("bulk", "POST", tmpl, missing)["error"]["code"] == "integrationNotFound"
    sandbox.control.configure(bulk_enabled=False)
    assert (
        check("bulk", "POST", tmpl, api.post(path, json={"input": []}))["error"]["code"] == "bulkAPIDisabled"
    )


def test_state_machine_concurrency_limit_and_listing(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.configure(bulk_queue_s=10, bulk_start_s=10, bulk_run_s=10)
    path = f"/api/v2/bulk/integrations/{_integration(sandbox)['_id']}/stats"
    ops = [_submit(api, "POST", path, []) for _ in range(3)]
    fourth = api.post(path, json={"input": []})
    tmpl = "/api/v2/bulk/integrations/{integrationId}/stats"
    assert check("bulk", "POST", tmpl, fourth)["error"]["code"] == "bulkOperationsConcurrencyLimitReached"
    not_run = api.get(f"/api/v2/bulk/operations/{ops[0]}/results")
    assert check("bulk", "GET", OPS + "/results", not_run)["error"]["code"] == "bulkOperationNotRun"
    seen = []
    for _ in range(4):
        op = check("bulk", "GET", OPS, api.get(f"/api/v2/bulk/operations/{ops[0]}"))
        seen.append(op["status"])
        sandbox.control.advance_clock(10)
    assert seen == ["pending", "queued", "running", "completed"]
    assert op["queuedAt"] < op["startedAt"] < op["endedAt"] and "progress" in op
    listed, responses = follow(api, "/api/v2/bulk/operations", {"status[eq]": "completed"})
    for response in responses:
        check("bulk", "GET", "/api/v2/bulk/operations", response)
    assert sorted(o["_id"] for o in listed) == sorted(ops)
    assert _submit(api, "POST", path, [])  # slots are free again
    missing = api.get("/api/v2/bulk/operations/0123456789abcdef01234567")
    assert check("bulk", "GET", OPS, missing)["error"]["code"] == "bulkOperationNotFound"
    assert sandbox.control.counters()["bulk_operations_run"] == 3


def _stat(course_id: str, user: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "courseIdentifier": {"type": "internalId", "value": course_id},
        "userIdentifier": user,
        "timeSpent": 1000,
        **fields,
    }


def test_stats_import_rules(sandbox: RunningSandbox, api: httpx.Client) -> None:
    t = sandbox.tenant
    integration = _integration(sandbox)
    path = f"/api/v2/bulk/integrations/{integration['_id']}/stats"
    course_id = t.courses.ids[next(r for (i, _), r in t.external_index.items() if i == integration["_id"])]
    user = next(u for u in t.users.items if u["status"] == "active" and "mail" in u)
    by_id = {"type": "internalId", "value": user["_id"]}

    def attempts() -> list[dict[str, Any]]:
        rows, _ = follow(api, "/api/v2/courses/stats", {"courseId[eq]": course_id, "userId[eq]": user["_id"]})
        return rows

    before = len(attempts())
    day = "2030-01-0{}T10:00:00.000Z"
    # a first attempt (later than every existing one): created, in progress
    r1 = _results(
        api,
        _submit(
            api,
            "POST",
            path,
            [
                _stat(
                    course_id, by_id, progress=0, firstActivityAt=day.format(1), lastActivityAt=day.format(1)
                )
            ],
        ),
    )
    assert r1[0]["status"] == "success"
    assert len(attempts()) == before + 1
    # earlier firstActivityAt than its lastActivityAt → updates that attempt; progress 100 completes it
    r2 = _results(
        api,
        _submit(
            api,
            "POST",
            path,
            [
                _stat(
                    course_id,
                    {"type": "mail", "value": user["mail"]},
                    progress=100,
                    score=80,
                    firstActivityAt="2029-12-31T10:00:00.000Z",
                    lastActivityAt=day.format(3),
                )
            ],
        ),
    )
    assert r2[0]["resourceId"] == r1[0]["resourceId"]
    updated = next(a for a in attempts() if a["_id"] == r1[0]["resourceId"])
    assert updated["progress"] == 100 and updated["completedAt"] == day.format(3) and updated["score"] == 80
    assert len(attempts()) == before + 1
    # later than every attempt → a new attempt (a retake); forceNew → another one
    _results(
        api,
        _submit(
            api,
            "POST",
            path,
            [
                _stat(
                    course_id, by_id, progress=10, firstActivityAt=day.format(5), lastActivityAt=day.format(5)
                )
            ],
        ),
    )
    _results(
        api,
        _submit(
            api,
            "POST",
            path,
            [
                _stat(
                    course_id,
                    by_id,
                    progress=10,
                    forceNew=True,
                    firstActivityAt=day.format(4),
                    lastActivityAt=day.format(4),
                )
            ],
        ),
    )
    assert len(attempts()) == before + 3
    # item errors: timeSpent 0, course of another integration, unknown user
    other = next(c for c in t.courses.items if c["type"] == "native")
    bad = _results(
        api,
        _submit(
            api,
            "POST",
            path,
            [
                {
                    **_stat(
                        course_id,
                        by_id,
                        progress=5,
                        firstActivityAt=day.format(6),
                        lastActivityAt=day.format(6),
                    ),
                    "timeSpent": 0,
                },
                _stat(
                    other["_id"],
                    by_id,
                    progress=5,
                    firstActivityAt=day.format(6),
                    lastActivityAt=day.format(6),
                ),
                _stat(
                    course_id,
                    {"type": "mail", "value": "nobody@x.example"},
                    progress=5,
                    firstActivityAt=day.format(6),
                    lastActivityAt=day.format(6),
                ),
            ],
        ),
    )
    assert [r["status"] for r in bad] == ["error", "error", "error"]
    assert len(attempts()) == before + 3
