"""API v2 routes that write synchronously: course archive/restore and integration configurations."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360 import validate, writes
from lmsbridge.sandbox.learning360.errors import ApiError, bad_request, json_response, not_found
from lmsbridge.sandbox.learning360.http import endpoint, json_body, path_id, tenant_of
from lmsbridge.sandbox.learning360.tenant import Tenant


@endpoint("courses:write")
async def archive_course(request: Request) -> Response:
    tenant = tenant_of(request)
    row = tenant.course_row(path_id(request, "courseId"))
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) != {"archived"} or not isinstance(body["archived"], bool):
        raise bad_request('The body must be {"archived": boolean}.')
    if row is None or tenant.courses.items[row]["status"] == "deleted":
        raise not_found("courseNotFound", "The given `courseId` does not correspond to any existing course.")
    integration_id = tenant.course_meta[row].integration_id
    if integration_id is not None and integration_id in tenant.inactive_integrations:
        raise ApiError(
            400, "integrationInactive", "The external course is linked to an inactive integration."
        )
    return json_response(tenant.set_course_archived(row, body["archived"]))


def _check_references(tenant: Tenant, body: dict[str, Any]) -> None:
    if "groupId" in body and tenant.groups.get(body["groupId"]) is None:
        raise not_found("groupNotFound", "The given `groupId` does not correspond to any existing group.")
    if "authorId" in body:
        author = tenant.users.get(body["authorId"])
        if author is None or author["status"] == "deleted":
            raise not_found("userNotFound", "The given `authorId` does not correspond to any existing user.")
    if "externalPlatform" in body and body["externalPlatform"].strip().lower() in writes.RESERVED_PLATFORMS:
        raise ApiError(400, "reservedPlatformName", "The platform is one of the reserved ones.")


def _duplicate() -> ApiError:
    return ApiError(
        400,
        "duplicateExternalPlatform",
        "The given `externalPlatform` already has an integration defined for this group.",
    )


@endpoint("integrations:write")
async def create_integration(request: Request) -> Response:
    tenant = tenant_of(request)
    body = await json_body(request)
    problem = validate.integration_problem(body, partial=False)
    if problem:
        raise bad_request(problem)
    _check_references(tenant, body)
    if writes.find_duplicate(tenant, body["groupId"].lower(), body["externalPlatform"]):
        raise _duplicate()
    if sum(1 for i in tenant.integrations.items if i is not None) >= writes.MAX_INTEGRATIONS:
        raise ApiError(400, "integrationsLimitReached", "The maximum number of integrations is reached.")
    integration_id = tenant.integration_ids.next(tenant.now_ms() // 1000)
    record = {
        "_id": integration_id,
        **body,
        "groupId": body["groupId"].lower(),
        "authorId": body["authorId"].lower(),
    }
    tenant.integrations.add(integration_id, record)
    return json_response(record, 201)


def _integration(request: Request) -> dict[str, Any]:
    record = tenant_of(request).integrations.get(path_id(request, "integrationId"))
    if record is None:
        raise not_found(
            "integrationNotFound",
            "The given `integrationId` does not correspond to any existing integration.",
        )
    return record


@endpoint("integrations:write")
async def patch_integration(request: Request) -> Response:
    tenant = tenant_of(request)
    record = _integration(request)
    body = await json_body(request)
    problem = validate.integration_problem(body, partial=True)
    if problem:
        raise bad_request(problem)
    _check_references(tenant, body)
    group = body.get("groupId", record["groupId"]).lower()
    platform = body.get("externalPlatform", record["externalPlatform"])
    if writes.find_duplicate(tenant, group, platform, except_id=record["_id"]):
        raise _duplicate()
    record.update(body)
    return json_response({k: v for k, v in record.items() if k != "_id"})


@endpoint("integrations:write")
async def delete_integration(request: Request) -> Response:
    tenant = tenant_of(request)
    record = _integration(request)
    if record["externalPlatform"].strip().lower() in writes.RESERVED_PLATFORMS:
        raise ApiError(400, "reservedPlatformName", "The platform is one of the reserved ones.")
    writes.delete_integration(tenant, record["_id"])
    return Response(status_code=204)


@endpoint("integrations:read")
async def get_external_course(request: Request) -> Response:
    tenant = tenant_of(request)
    record = _integration(request)
    row = tenant.external_index.get((record["_id"], request.path_params["externalId"]))
    if row is None:
        # Undocumented for an externalId that exists nowhere; the documented 400 is used (guess).
        raise ApiError(
            400,
            "courseNotBelongToIntegration",
            "The given `externalId` does not belong to the given integration.",
        )
    return json_response(writes.external_course_view(tenant, row))


ROUTES = [
    Route("/api/v2/courses/{courseId}/archive", archive_course, methods=["PUT"]),
    Route("/api/v2/integrations", create_integration, methods=["POST"]),
    Route("/api/v2/integrations/{integrationId}", patch_integration, methods=["PATCH"]),
    Route("/api/v2/integrations/{integrationId}", delete_integration, methods=["DELETE"]),
    Route("/api/v2/integrations/{integrationId}/courses/{externalId}", get_external_course, methods=["GET"]),
]
