"""API v2 routes that read: the token endpoint, users, courses, course stats, groups, integrations."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360 import pages
from lmsbridge.sandbox.learning360.errors import json_response, not_found
from lmsbridge.sandbox.learning360.http import endpoint, paginate, path_id, tenant_of
from lmsbridge.sandbox.learning360.oid import is_object_id
from lmsbridge.sandbox.learning360.query import spec
from lmsbridge.sandbox.learning360.vocab import CONTENT_LANGS, COURSE_STATUSES, COURSE_TYPES, USER_STATUSES

STRING_OPS = ("eq", "ne", "in", "nin")
USER_FILTERS = {
    "mail": spec("string", *STRING_OPS),
    "username": spec("string", *STRING_OPS),
    "status": spec("string", "eq", "ne", enum=USER_STATUSES),
}
COURSE_FILTERS = {
    "createdAt": spec("date", "lt", "gte"),
    "modifiedAt": spec("date", "lt", "gte"),
    "status": spec("string", "eq", enum=COURSE_STATUSES),
    "type": spec("string", "eq", enum=COURSE_TYPES),
    "authorId": spec("objectid", "eq"),
    "groupId": spec("objectid", "eq"),
    "originalAuthorId": spec("objectid", "eq"),
    "tagIds": spec("objectid", "in"),
    "coAuthorIds": spec("objectid", "in"),
    "sourceLang": spec("string", "eq", "in", enum=CONTENT_LANGS),
    "collaborativeLearning": spec("bool", "eq"),
}
STATS_FILTERS = {
    "completedAt": spec("date", "lt", "gte"),
    "courseId": spec("objectid", *STRING_OPS),
    "userId": spec("objectid", *STRING_OPS),
}
INTEGRATION_FILTERS = {"externalPlatform": spec("string", *STRING_OPS)}
TOKEN_FIELDS = {"grant_type", "client_id", "client_secret", "user_id", "company_id"}


async def token(request: Request) -> Response:
    """POST /api/v2/oauth2/token: JSON body only; flat error bodies."""
    tenant = tenant_of(request)
    invalid = json_response({"error": "invalid_request"}, 400)
    if "json" not in request.headers.get("content-type", ""):
        return invalid
    try:
        body = json.loads(await request.body())
    except ValueError:
        return invalid
    if (
        not isinstance(body, dict)
        or set(body) - TOKEN_FIELDS
        or any(not isinstance(v, str) for v in body.values())
    ):
        return invalid
    if "grant_type" in body and body["grant_type"] != "client_credentials":
        return json_response({"error": "unsupported_grant_type"}, 400)
    if not {"grant_type", "client_id", "client_secret"} <= set(body):
        return invalid
    for key in ("user_id", "company_id"):
        if key in body and not is_object_id(body[key]):
            return invalid
    cred = tenant.credentials.get(body["client_id"])
    if cred is None or cred.client_secret != body["client_secret"]:
        return json_response({"error": "invalid_client"}, 401)
    if "user_id" in body:
        user = tenant.users.get(body["user_id"])
        if user is None or user["status"] == "deleted":
            return json_response({"error": "non_existing_user"}, 400)
    lifetime = tenant.config.token_lifetime_s
    return json_response(
        {
            "token_type": "Bearer",
            "access_token": tenant.issue_token(cred),
            "expires_in": str(lifetime) if tenant.config.expires_in_as_string else lifetime,
        }
    )


@endpoint("users:read")
async def list_users(request: Request) -> Response:
    t = tenant_of(request)
    return paginate(request, "users", "users", USER_FILTERS, lambda f, a, n: pages.users_page(t, f, a, n))


@endpoint("users:read")
async def get_user(request: Request) -> Response:
    user = tenant_of(request).users.get(path_id(request, "userId"))
    if user is None:
        raise not_found("userNotFound", "The given `userId` does not correspond to any existing user.")
    return json_response(user)


@endpoint("courses:read")
async def list_courses(request: Request) -> Response:
    t = tenant_of(request)
    return paginate(
        request, "courses", "courses", COURSE_FILTERS, lambda f, a, n: pages.courses_page(t, f, a, n)
    )


@endpoint("courses:read")
async def get_course(request: Request) -> Response:
    course = tenant_of(request).courses.get(path_id(request, "courseId"))
    if course is None:
        raise not_found("courseNotFound", "The given `courseId` does not correspond to any existing course.")
    return json_response(course)


@endpoint("courseStats:read")
async def list_stats(request: Request) -> Response:
    t = tenant_of(request)
    return paginate(request, "stats", "stats", STATS_FILTERS, lambda f, a, n: pages.stats_page(t, f, a, n))


@endpoint("groups:read")
async def list_groups(request: Request) -> Response:
    t = tenant_of(request)
    return paginate(request, "groups", "groups", {}, lambda f, a, n: pages.groups_page(t, f, a, n))


@endpoint("groups:read")
async def list_roles(request: Request) -> Response:
    t = tenant_of(request)
    group_id = path_id(request, "groupId")
    if group_id not in t.roles:
        raise not_found("groupNotFound", "The given `groupId` does not correspond to any existing group.")
    return paginate(
        request, f"roles:{group_id}", "roles", {}, lambda f, a, n: pages.roles_page(t, group_id, a, n)
    )


@endpoint("integrations:read")
async def list_integrations(request: Request) -> Response:
    t = tenant_of(request)
    return paginate(
        request,
        "integrations",
        "integrations",
        INTEGRATION_FILTERS,
        lambda f, a, n: pages.integrations_page(t, f, a, n),
    )


ROUTES = [
    Route("/api/v2/oauth2/token", token, methods=["POST"]),
    Route("/api/v2/users", list_users, methods=["GET"]),
    Route("/api/v2/users/{userId}", get_user, methods=["GET"]),
    Route("/api/v2/courses", list_courses, methods=["GET"]),
    Route("/api/v2/courses/stats", list_stats, methods=["GET"]),
    Route("/api/v2/courses/{courseId}", get_course, methods=["GET"]),
    Route("/api/v2/groups", list_groups, methods=["GET"]),
    Route("/api/v2/groups/{groupId}/roles", list_roles, methods=["GET"]),
    Route("/api/v2/integrations", list_integrations, methods=["GET"]),
]
