"""List filters as Kombo names them, each alone and combined (AND across, OR within); cursor binding."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from api_support import ApiEnv, KomboContract

from factories import BASE_TIME, Tenant, revision, seed_tenant, upsert, user
from lmsbridge.connectors import registry
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.unified import coverage


def ids_of(
    api: ApiEnv, kombo: KomboContract, integration_id: str, path: str = "/v1/lms/users", **params: Any
) -> set[str]:
    operation = {
        "/v1/lms/users": "GetLmsUsers",
        "/v1/lms/courses": "GetLmsCourses",
        "/v1/lms/course-progressions": "GetLmsCourseProgressions",
    }[path]
    body = kombo.check(operation, api.get(path, integration_id, page_size=250, **params))
    assert body["data"]["next"] is None
    return {r["id"] for r in body["data"]["results"]}


@pytest.fixture
def tenant(api: ApiEnv) -> Tenant:
    integration_id = api.integration()
    return seed_tenant(api.engine, integration_id, users=6, courses=3, enrollments_per_user=2)


def test_ids_and_remote_ids(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    u = tenant.ids(tenant.users)
    iid = tenant.integration_id
    assert ids_of(api, kombo, iid, ids=f"{u[0]},{u[3]}") == {u[0], u[3]}
    assert ids_of(api, kombo, iid, ids=f" {u[0]} , ,{u[0]}") == {u[0]}  # blanks and duplicates ignored
    assert ids_of(api, kombo, iid, remote_ids="u00002,u00005,nope") == {u[1], u[4]}
    # AND across filters: only users in both lists
    assert ids_of(api, kombo, iid, ids=f"{u[0]},{u[1]}", remote_ids="u00002,u00003") == {u[1]}
    assert ids_of(api, kombo, iid, ids="") == set()  # present but empty: matches nothing


def test_work_emails_case_insensitive(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    u = tenant.ids(tenant.users)
    iid = tenant.integration_id
    assert ids_of(api, kombo, iid, work_emails="user1@example.com,USER3@EXAMPLE.COM") == {u[0], u[2]}
    assert ids_of(api, kombo, iid, work_emails="user1@example.com", remote_ids="u00002") == set()


def test_updated_after_users(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    upsert(api.engine, iid, [user(2, first_name="Changed")], now=BASE_TIME + timedelta(days=1))
    changed = {tenant.id_of(tenant.users[1])}
    assert ids_of(api, kombo, iid, updated_after="2024-01-15T09:30:00.124Z") == changed
    assert ids_of(api, kombo, iid, updated_after="2024-01-15") == set(tenant.ids(tenant.users))
    assert ids_of(api, kombo, iid, updated_after="2024-01-16T09:30:01") == set()  # no Z means UTC
    assert ids_of(api, kombo, iid, updated_after="2024-01-15T10:00:00Z", remote_ids="u00001") == set()


def test_updated_after_courses_follows_revisions(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    later = BASE_TIME + timedelta(days=2)
    upsert(api.engine, iid, [revision(2, title="New title")], now=later)
    since = "2024-01-16T00:00:00.000Z"
    [course_id] = ids_of(api, kombo, iid, "/v1/lms/courses", updated_after=since)
    assert course_id == tenant.id_of(tenant.courses[1])
    body = kombo.check("GetLmsCourses", api.get("/v1/lms/courses", iid, updated_after=since))
    [served] = body["data"]["results"]
    # the course's own changed_at does not move; its revision's does
    assert served["changed_at"] == "2024-01-15T09:30:00.123Z"
    assert served["revisions"][0]["changed_at"] == "2024-01-17T09:30:00.123Z"


def test_updated_after_progressions_only_own_changes(
    api: ApiEnv, kombo: KomboContract, tenant: Tenant
) -> None:
    iid = tenant.integration_id
    upsert(
        api.engine,
        iid,
        [user(1, first_name="Changed"), revision(1, title="Changed")],
        now=BASE_TIME + timedelta(days=1),
    )
    assert ids_of(api, kombo, iid, "/v1/lms/course-progressions", updated_after="2024-01-16") == set()


def test_include_deleted(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    deleted_at = BASE_TIME + timedelta(days=1)
    deleted = user(99, remote_deleted_at=deleted_at)
    upsert(api.engine, iid, [deleted], now=deleted_at)
    gone = tenant.id_of(deleted)
    all_users = set(tenant.ids(tenant.users)) | {gone}
    assert ids_of(api, kombo, iid) == all_users - {gone}
    assert ids_of(api, kombo, iid, include_deleted="false") == all_users - {gone}
    assert ids_of(api, kombo, iid, include_deleted="true") == all_users
    body = kombo.check("GetLmsUsers", api.get("/v1/lms/users", iid, include_deleted="true", ids=gone))
    assert body["data"]["results"][0]["remote_deleted_at"] == "2024-01-16T09:30:00.123Z"
    assert ids_of(api, kombo, iid, include_deleted="true", updated_after="2024-01-16") == {gone}


def test_progression_user_and_course_filters(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    path = "/v1/lms/course-progressions"
    by_pair = {(p.user_remote_id, p.course_remote_id): tenant.id_of(p) for p in tenant.progressions}
    u1, u2 = tenant.ids(tenant.users[:2])
    c1, c2 = tenant.ids(tenant.courses[:2])
    of_user = {pid for (u, _), pid in by_pair.items() if u in ("u00001", "u00002")}
    in_course = {pid for (_, c), pid in by_pair.items() if c == "c00002"}
    assert len(of_user) == 4 and len(in_course) == 4
    assert ids_of(api, kombo, iid, path, user_ids=f"{u1},{u2}") == of_user
    assert ids_of(api, kombo, iid, path, course_ids=c2) == in_course
    assert ids_of(api, kombo, iid, path, user_ids=f"{u1},{u2}", course_ids=c2) == of_user & in_course
    assert ids_of(api, kombo, iid, path, user_ids=u1, course_ids=c1, remote_ids="u00001:c00001") == {
        by_pair[("u00001", "c00001")]
    }


def test_unsupported_filter_matches_nothing_unless_ignored(
    api: ApiEnv, kombo: KomboContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_models = dict(Learning360Connector.coverage.read_models)
    read_models["lms_users"] = read_models["lms_users"] - {"work_email"}
    tool = coverage.ToolCoverage(
        id="noemail", label="No email", logo_url="https://e.com/l", icon_url="https://e.com/i", beta=True,
        read_models=read_models,
    )  # fmt: skip
    monkeypatch.setitem(registry.COVERAGE, tool.id, tool)
    iid = api.integration(tool=tool.id)
    tenant = seed_tenant(api.engine, iid, users=3, courses=0)
    assert ids_of(api, kombo, iid, work_emails="user1@example.com") == set()
    ignored = ids_of(api, kombo, iid, work_emails="user1@example.com", ignore_unsupported_filters="true")
    assert ignored == set(tenant.ids(tenant.users))
    # supported filters still apply when the unsupported one is ignored
    assert ids_of(
        api, kombo, iid, work_emails="x@y.z", ignore_unsupported_filters="true", remote_ids="u00002"
    ) == {tenant.id_of(tenant.users[1])}


# --- cursors -----------------------------------------------------------------------------------------


def first_cursor(api: ApiEnv, integration_id: str, path: str = "/v1/lms/users", **params: Any) -> str:
    cursor = api.get(path, integration_id, page_size=2, **params).json()["data"]["next"]
    assert isinstance(cursor, str)
    return cursor


def assert_rejected(api: ApiEnv, kombo: KomboContract, integration_id: str, path: str, **params: Any) -> None:
    operation = "GetLmsCourses" if path.endswith("courses") else "GetLmsUsers"
    response = api.get(path, integration_id, page_size=2, **params)
    body = kombo.check(operation, response)
    assert (response.status_code, body["error"]["code"]) == (400, "PLATFORM.INPUT_INVALID")
    assert "cursor" in body["error"]["message"]


def test_cursor_continues_with_same_filters_in_any_order(
    api: ApiEnv, kombo: KomboContract, tenant: Tenant
) -> None:
    iid = tenant.integration_id
    u = tenant.ids(tenant.users)
    cursor = first_cursor(api, iid, ids=",".join(u[:4]))
    rest = ids_of(api, kombo, iid, ids=",".join(reversed(u[:4])), cursor=cursor)
    assert len(rest) == 2 and rest <= set(u[:4])


def test_tampered_cursor_rejected(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    cursor = first_cursor(api, iid)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for position in (0, len(raw) // 2, len(raw) - 1):
        forged = bytearray(raw)
        forged[position] ^= 0x01
        token = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=token)
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=cursor[:-3])
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=cursor + "AAAA")


def test_foreign_cursors_rejected(api: ApiEnv, kombo: KomboContract, tenant: Tenant) -> None:
    iid = tenant.integration_id
    other = api.integration()
    seed_tenant(api.engine, other, users=6, courses=3)
    users_cursor = first_cursor(api, iid)
    # another endpoint, another integration, other filters
    assert_rejected(api, kombo, iid, "/v1/lms/courses", cursor=users_cursor)
    assert_rejected(api, kombo, other, "/v1/lms/users", cursor=users_cursor)
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=users_cursor, include_deleted="true")
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=users_cursor, ignore_unsupported_filters="true")
    filtered = first_cursor(api, iid, remote_ids="u00001,u00002,u00003")
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=filtered, remote_ids="u00001,u00002")
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=filtered)
    dated = first_cursor(api, iid, updated_after="2024-01-01")
    assert_rejected(api, kombo, iid, "/v1/lms/users", cursor=dated, updated_after="2024-01-02")
