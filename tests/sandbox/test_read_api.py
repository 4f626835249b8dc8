"""Token endpoint, auth, and the read endpoints, each response validated against the vendor's documents."""

from __future__ import annotations

import httpx
import pytest
from sandbox_openapi import check, follow, operation

from lmsbridge.sandbox.learning360.routes_read import (
    COURSE_FILTERS,
    INTEGRATION_FILTERS,
    STATS_FILTERS,
    USER_FILTERS,
)
from lmsbridge.sandbox.learning360.testing import RunningSandbox

TOKEN = "/api/v2/oauth2/token"


def _token(sb: RunningSandbox, body: object, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{sb.base_url}{TOKEN}", json=body, **kwargs)  # type: ignore[arg-type]


def test_token_success_and_expires_in_switch(sandbox: RunningSandbox) -> None:
    good = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    body = check("core", "POST", TOKEN, _token(sandbox, good))
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    sandbox.control.configure(expires_in_as_string=True)
    assert _token(sandbox, good).json()["expires_in"] == "3600"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "users:read"}, 400, "invalid_request"),  # extra property
        ({"client_secret": None}, 400, "invalid_request"),  # wrong type
        ({"user_id": "0" * 24}, 400, "non_existing_user"),
    ],
)
def test_token_errors(sandbox: RunningSandbox, change: dict[str, object], status: int, error: str) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    body.update(change)
    response = _token(sandbox, body)
    assert response.status_code == status
    assert check("core", "POST", TOKEN, response) == {"error": error}


def test_token_rejects_form_encoding(sandbox: RunningSandbox) -> None:
    response = httpx.post(
        f"{sandbox.base_url}{TOKEN}",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 400 and response.json() == {"error": "invalid_request"}


def test_invalid_token_missing_token_and_expiry(sandbox: RunningSandbox, api: httpx.Client) -> None:
    assert api.get("/api/v2/users").status_code == 200
    bare = httpx.get(f"{sandbox.base_url}/api/v2/users", headers={"360-api-version": "v2.0"})
    assert check("core", "GET", "/api/v2/users", bare) == {"error": "invalid_token"}
    forged = api.get("/api/v2/users", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401
    # the tenant's clock also runs in real time: 10 s short of the hour leaves room for a loaded machine
    sandbox.control.advance_clock(3590)
    assert api.get("/api/v2/users").status_code == 200
    sandbox.control.advance_clock(11)
    expired = api.get("/api/v2/users")
    assert check("core", "GET", "/api/v2/users", expired) == {"error": "invalid_token"}


def test_revoked_tokens_get_401(sandbox: RunningSandbox, api: httpx.Client) -> None:
    assert sandbox.control.revoke_tokens() == 1
    assert api.get("/api/v2/courses").status_code == 401


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/api/v2/users", "users:read"),
        ("/api/v2/courses", "courses:read"),
        ("/api/v2/courses/stats", "courseStats:read"),
        ("/api/v2/groups", "groups:read"),
        ("/api/v2/integrations", "integrations:read"),
    ],
)
def test_scope_enforced(sandbox: RunningSandbox, api: httpx.Client, path: str, scope: str) -> None:
    remaining = [s for s in sandbox.tenant.credentials[sandbox.client_id].scopes if s != scope]
    sandbox.control.set_scopes(sandbox.client_id, remaining)
    body = check("core", "GET", path, api.get(path))
    assert body["error"]["code"] == "invalid_scope" and scope in body["error"]["message"]
    sandbox.control.set_scopes(sandbox.client_id, [scope])
    assert api.get(path).status_code == 200


def test_wrong_api_version_is_400(api: httpx.Client) -> None:
    for headers in ({"360-api-version": "v1.0"}, {"360-api-version": ""}):
        response = api.get("/api/v2/users", headers=headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalidApiVersion"


@pytest.mark.parametrize(
    ("path", "collection"),
    [
        ("/api/v2/users", "users"),
        ("/api/v2/courses", "courses"),
        ("/api/v2/groups", "groups"),
        ("/api/v2/integrations", "integrations"),
    ],
)
def test_lists_validate_against_vendor_schema(
    sandbox: RunningSandbox, api: httpx.Client, path: str, collection: str
) -> None:
    rows, responses = follow(api, path)
    for response in responses:
        check("core", "GET", path, response)
    expected = [x for x in getattr(sandbox.tenant, collection).items if x is not None]
    assert rows == expected


def test_stats_validate_and_include_retakes_and_paths(sandbox: RunningSandbox, api: httpx.Client) -> None:
    rows, responses = follow(api, "/api/v2/courses/stats")
    for response in responses:
        check("core", "GET", "/api/v2/courses/stats", response)
    assert len(rows) == 1300 and len({r["_id"] for r in rows}) == 1300
    assert [r["_id"] for r in rows] == sorted(r["_id"] for r in rows)
    pairs = [(r["userId"], r["courseId"]) for r in rows]
    assert len(set(pairs)) < len(pairs)  # some retakes
    assert all(("completedAt" in r) == (r["progress"] == 100) for r in rows)
    assert any("pathId" in r for r in rows) and any(r["progress"] == 0 for r in rows)


def test_generated_data_has_realistic_variety(sandbox: RunningSandbox) -> None:
    users, courses = sandbox.tenant.users.items, sandbox.tenant.courses.items
    statuses = {u["status"] for u in users}
    assert statuses == {"active", "invited", "deleted"}
    assert all(u.get("deletedAt") for u in users if u["status"] == "deleted")
    assert {c["type"] for c in courses} >= {"native", "external"}
    integrations = {i["externalPlatform"]: i for i in sandbox.tenant.integrations.items if i}
    for course in courses:
        if course["type"] == "external":
            assert course["groupId"] == integrations[course["externalPlatform"]]["groupId"]
        else:
            assert "externalPlatform" not in course


def test_single_records_and_404s(sandbox: RunningSandbox, api: httpx.Client) -> None:
    user_id, course_id = sandbox.tenant.users.ids[3], sandbox.tenant.courses.ids[2]
    assert (
        check("core", "GET", "/api/v2/users/{userId}", api.get(f"/api/v2/users/{user_id}"))["_id"] == user_id
    )
    got = check("core", "GET", "/api/v2/courses/{courseId}", api.get(f"/api/v2/courses/{course_id}"))
    assert got["_id"] == course_id
    missing = "0123456789abcdef01234567"
    body = check("core", "GET", "/api/v2/users/{userId}", api.get(f"/api/v2/users/{missing}"))
    assert body["error"]["code"] == "userNotFound"
    body = check("core", "GET", "/api/v2/courses/{courseId}", api.get(f"/api/v2/courses/{missing}"))
    assert body["error"]["code"] == "courseNotFound"
    assert api.get("/api/v2/users/not-an-id").status_code == 400  # guess: malformed ObjectId → 400


def test_roles_of_root_group(sandbox: RunningSandbox, api: httpx.Client) -> None:
    root = sandbox.tenant.root_group_id
    path = "/api/v2/groups/{groupId}/roles"
    body = check("core", "GET", path, api.get(f"/api/v2/groups/{root}/roles"))
    assert any(r["role"] == "owner" for r in body) and any(r["role"] == "admin" for r in body)
    missing = check("core", "GET", path, api.get("/api/v2/groups/0123456789abcdef01234567/roles"))
    assert missing["error"]["code"] == "groupNotFound"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v2/users", USER_FILTERS),
        ("/api/v2/courses", COURSE_FILTERS),
        ("/api/v2/courses/stats", STATS_FILTERS),
        ("/api/v2/integrations", INTEGRATION_FILTERS),
    ],
)
def test_filters_are_exactly_the_declared_ones(path: str, fields: dict[str, object]) -> None:
    declared: dict[str, set[str]] = {}
    for param in operation("core", "GET", path).get("parameters", []):
        if param["in"] == "query":
            assert param.get("style") == "deepObject"
            declared[param["name"]] = set(param["schema"]["properties"])
    assert {name: set(f.ops) for name, f in fields.items()} == declared  # type: ignore[attr-defined]
