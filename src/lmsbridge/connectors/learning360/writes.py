"""360Learning write calls for the actions: the connector's own integration, bulk submits and polling,
course archive, and the reads that confirm a write (a course, the attempts of user/course pairs).

HTTP only: no store access. Payloads are built by ``write_mapping``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmsbridge.connectors.errors import NotFound, RemoteError, SetupIncomplete, UnexpectedResponse
from lmsbridge.connectors.learning360 import write_mapping as wm
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.query import encode_filters

API = "/api/v2"
# user ids per ``userId[in]`` list when confirming attempts (keeps URLs short)
USERS_PER_STATS_QUERY = 50


class ProviderSetupError(SetupIncomplete):
    """The connector's own 360Learning integration cannot be found or created (e.g. no author)."""


async def find_integration(client: Learning360Client, provider_name: str) -> dict[str, Any] | None:
    params = encode_filters({"externalPlatform": {"eq": provider_name}})
    async for page in client.iter_pages(f"{API}/integrations", params):
        for integration in page.items:
            if integration.get("externalPlatform") == provider_name:
                return integration
    return None


async def get_integration(client: Learning360Client, integration_id: str) -> dict[str, Any] | None:
    """The integration with this id (the API has no single-integration GET: list and pick)."""
    async for page in client.iter_pages(f"{API}/integrations"):
        for integration in page.items:
            if integration.get("_id") == integration_id:
                return integration
    return None


async def discover_author(client: Learning360Client, group_id: str) -> str | None:
    roles: list[dict[str, Any]] = []
    async for page in client.iter_pages(f"{API}/groups/{group_id}/roles"):
        roles.extend(page.items)
    return wm.pick_author(roles)


async def root_group(client: Learning360Client) -> str | None:
    async for page in client.iter_pages(f"{API}/groups"):
        found = wm.root_group_id(page.items)
        if found:
            return found
    return None


async def ensure_provider_integration(
    client: Learning360Client,
    *,
    provider_name: str,
    author_id: str | None,
    known_id: str | None,
) -> dict[str, Any]:
    """The 360Learning integration that owns lmsbridge's courses: the known one if it still exists,
    else the one named ``provider_name``, else a new one in the root group (author from settings or
    an admin of the root group)."""
    if known_id:
        known = await get_integration(client, known_id)
        if known is not None:
            return known
    existing = await find_integration(client, provider_name)
    if existing is not None:
        return existing
    group = await root_group(client)
    if group is None:
        raise ProviderSetupError("360Learning returned no root group (a group without parentId)")
    author = author_id or await discover_author(client, group)
    if author is None:
        raise ProviderSetupError(
            "no author for the course provider integration: set the integration setting `author_id` "
            "to a 360Learning user with editor or admin rights in the root group (none was found)"
        )
    body = wm.integration_create_body(provider_name, group, author)
    try:
        response = await client.request("POST", f"{API}/integrations", json_body=body)
    except RemoteError as exc:
        if exc.code == "duplicateExternalPlatform":  # created meanwhile (another worker): use it
            again = await find_integration(client, provider_name)
            if again is not None:
                return again
        raise
    if not isinstance(response.data, dict) or not response.data.get("_id"):
        raise UnexpectedResponse("POST /integrations answered without an integration")
    return dict(response.data)


async def submit_bulk(client: Learning360Client, method: str, path: str, items: Sequence[Any]) -> str:
    """Submit one bulk operation (202 + Location) and return its id. A 429 for the concurrency limit is
    retried by the client; when it outlasts the retries the caller reschedules (``RetriesExhausted``)."""
    # POST /stats is not idempotent, but the client retries a write only when it surely was not acted on
    response = await client.request(method, f"{API}{path}", json_body={"input": list(items)})
    if response.status != 202:
        raise UnexpectedResponse(f"{method} {path} answered {response.status}, expected 202")
    try:
        return wm.operation_id_from_location(response.headers.get("location"))
    except ValueError as exc:
        raise UnexpectedResponse(str(exc)) from exc


async def submit_course_upsert(
    client: Learning360Client, integration_id: str, items: Sequence[dict[str, Any]]
) -> str:
    return await submit_bulk(client, "PUT", f"/bulk/integrations/{integration_id}/courses", items)


async def submit_stats_import(
    client: Learning360Client, integration_id: str, items: Sequence[dict[str, Any]]
) -> str:
    return await submit_bulk(client, "POST", f"/bulk/integrations/{integration_id}/stats", items)


async def get_operation(client: Learning360Client, operation_id: str) -> dict[str, Any]:
    data = await client.get_json(f"{API}/bulk/operations/{operation_id}")
    if not isinstance(data, dict) or "status" not in data:
        raise UnexpectedResponse("GET /bulk/operations/{id} answered without a status")
    return data


async def get_results(client: Learning360Client, operation_id: str) -> list[dict[str, Any]]:
    data = await client.get_json(f"{API}/bulk/operations/{operation_id}/results")
    if not isinstance(data, list):
        raise UnexpectedResponse("GET /bulk/operations/{id}/results did not answer a list")
    return [entry for entry in data if isinstance(entry, dict)]


async def get_course(client: Learning360Client, course_id: str) -> dict[str, Any]:
    data = await client.get_json(f"{API}/courses/{course_id}")
    if not isinstance(data, dict) or not data.get("_id"):
        raise UnexpectedResponse("GET /courses/{id} answered without a course")
    return data


async def external_course_id(client: Learning360Client, integration_id: str, external_id: str) -> str | None:
    """The courseId of an external course of the integration, by its externalId (None if unknown)."""
    try:
        data = await client.get_json(f"{API}/integrations/{integration_id}/courses/{external_id}")
    except NotFound:
        return None
    except RemoteError as exc:
        if exc.code == "courseNotBelongToIntegration":
            return None
        raise
    course = data.get("courseId") if isinstance(data, dict) else None
    return str(course) if course else None


async def archive_course(client: Learning360Client, course_id: str, archived: bool = True) -> dict[str, Any]:
    """PUT /courses/{id}/archive: synchronous; answers the updated course."""
    response = await client.request(
        "PUT", f"{API}/courses/{course_id}/archive", json_body={"archived": archived}
    )
    if not isinstance(response.data, dict) or not response.data.get("_id"):
        raise UnexpectedResponse("PUT /courses/{id}/archive answered without a course")
    return dict(response.data)


async def pair_attempts(
    client: Learning360Client, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every attempt of each (userId, courseId) pair, by course with ``userId[in]`` lists."""
    users_by_course: dict[str, list[str]] = {}
    for user, course in dict.fromkeys(pairs):
        users_by_course.setdefault(course, []).append(user)
    found: dict[tuple[str, str], list[dict[str, Any]]] = {pair: [] for pair in pairs}
    for course, users in users_by_course.items():
        for start in range(0, len(users), USERS_PER_STATS_QUERY):
            part = users[start : start + USERS_PER_STATS_QUERY]
            params = encode_filters({"courseId": {"eq": course}, "userId": {"in": part}})
            async for page in client.iter_pages(f"{API}/courses/stats", params):
                for attempt in page.items:
                    pair = (str(attempt.get("userId")), str(attempt.get("courseId")))
                    if pair in found:
                        found[pair].append(attempt)
    return found
