"""Tenant isolation: a record of one integration is never visible through another integration's id."""

from __future__ import annotations

from api_support import ApiEnv, KomboContract

from factories import seed_tenant

LISTS = [
    ("GetLmsUsers", "/v1/lms/users", "users"),
    ("GetLmsCourses", "/v1/lms/courses", "courses"),
    ("GetLmsCourseProgressions", "/v1/lms/course-progressions", "progressions"),
]


def test_same_remote_ids_stay_apart(api: ApiEnv, kombo: KomboContract) -> None:
    a, b = api.integration(), api.integration()
    # identical remote ids in both tenants: the deterministic Kombo ids differ per integration
    tenant_a = seed_tenant(api.engine, a, users=4, courses=2)
    tenant_b = seed_tenant(api.engine, b, users=3, courses=2)
    for operation_id, path, attr in LISTS:
        served_a = kombo.check(operation_id, api.get(path, a, page_size=250))["data"]["results"]
        served_b = kombo.check(operation_id, api.get(path, b, page_size=250))["data"]["results"]
        assert {r["id"] for r in served_a} == set(tenant_a.ids(getattr(tenant_a, attr)))
        assert {r["id"] for r in served_b} == set(tenant_b.ids(getattr(tenant_b, attr)))
        assert not {r["id"] for r in served_a} & {r["id"] for r in served_b}
    # asking A for B's ids (and remote ids that exist only in B) finds nothing of B
    b_user_ids = ",".join(tenant_b.ids(tenant_b.users))
    assert kombo.check("GetLmsUsers", api.get("/v1/lms/users", a, ids=b_user_ids))["data"]["results"] == []
    progressions_a = kombo.check(
        "GetLmsCourseProgressions",
        api.get("/v1/lms/course-progressions", a, user_ids=b_user_ids, page_size=250),
    )["data"]["results"]
    assert progressions_a == []
    nested = kombo.check("GetLmsCourseProgressions", api.get("/v1/lms/course-progressions", a, page_size=250))
    for item in nested["data"]["results"]:
        assert item["user"]["id"] in tenant_a.ids(tenant_a.users)
        assert item["course_revision"]["course"]["id"] in tenant_a.ids(tenant_a.courses)


def test_disabling_one_integration_leaves_the_other(api: ApiEnv, kombo: KomboContract) -> None:
    a, b = api.integration(), api.integration()
    seed_tenant(api.engine, a, users=2, courses=1)
    seed_tenant(api.engine, b, users=2, courses=1)
    kombo.check(
        "PutIntegrationsIntegrationIdEnabled",
        api.client.put(f"/v1/integrations/{a}/enabled", json={"value": False}),
    )
    assert api.get("/v1/lms/users", a).json()["error"]["code"] == "INTEGRATION.INACTIVE"
    assert len(kombo.check("GetLmsUsers", api.get("/v1/lms/users", b))["data"]["results"]) == 2
