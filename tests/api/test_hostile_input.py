"""Input a database rejects (NUL bytes, oversized values) is PLATFORM.INPUT_INVALID, never a 500."""

from __future__ import annotations

from api_support import ApiEnv, KomboContract


def test_nul_bytes_and_huge_values(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    lists = [
        ("GetLmsUsers", "/v1/lms/users", "work_emails"),
        ("GetLmsCourses", "/v1/lms/courses", "remote_ids"),
        ("GetLmsCourseProgressions", "/v1/lms/course-progressions", "user_ids"),
        ("GetLmsCourseProgressions", "/v1/lms/course-progressions", "course_ids"),
    ]
    for operation_id, path, own_filter in lists:
        for params in ({"ids": "a\x00b"}, {"remote_ids": "\x00"}, {own_filter: "x\x00@y.z"}):
            response = api.get(path, integration_id, **params)
            body = kombo.check(operation_id, response)
            assert (response.status_code, body["error"]["code"]) == (400, "PLATFORM.INPUT_INVALID"), params
        # a long but harmless value is simply not found
        long_ids = api.get(path, integration_id, ids="x" * 5000, remote_ids="y" * 5000)
        assert kombo.check(operation_id, long_ids)["data"]["results"] == []
    for header in ("x" * 300, "360learning:"):
        response = api.get("/v1/lms/users", header)
        body = kombo.check("GetLmsUsers", response)
        assert response.status_code in (400, 404) and body["error"]["code"] in (
            "PLATFORM.INPUT_INVALID",
            "PLATFORM.INTEGRATION_NOT_FOUND",
        )
    for path in ("/v1/integrations/a%00b", "/v1/logs/a%00b", f"/v1/integrations/{'x' * 300}"):
        response = api.client.get(path)
        operation_id = "GetLogsLogId" if "logs" in path else "GetIntegrationsIntegrationId"
        if operation_id == "GetLogsLogId":
            assert response.status_code in (400, 404) and response.json()["status"] == "error"
        else:
            body = kombo.check(operation_id, response)
            assert response.status_code in (400, 404), body
