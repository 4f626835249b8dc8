"""``/v1/lms/*`` read endpoints: users, courses, course progressions, skills (Kombo's "Unified LMS API")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from lmsbridge.api import serialize
from lmsbridge.api.cursors import InvalidCursorError
from lmsbridge.api.deps import (
    AppContext,
    ContextDep,
    HeaderIntegrationId,
    current_api_key,
    readable_integration,
)
from lmsbridge.api.errors import ApiError, input_invalid
from lmsbridge.api.params import CommonListParams, common_list_params, parse_list
from lmsbridge.api.responses import data_response
from lmsbridge.connectors.registry import tool_coverage
from lmsbridge.features.availability import require_model
from lmsbridge.store import queries
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import Integration
from lmsbridge.unified import wire
from lmsbridge.unified.coverage import model_available, unsupported_filters

router = APIRouter(prefix="/lms", tags=["Unified LMS API"], dependencies=[Depends(current_api_key)])

ListParams = Annotated[CommonListParams, Depends(common_list_params)]
_AND_OR = (
    "\n\nTop level filters use AND, while individual filters use OR if they accept multiple arguments. "
    "That means filters will be resolved like this: `(id IN ids) AND (remote_id IN remote_ids)`"
)
_OWN_CHANGES = "\n\n`updated_after`: only changes to the returned record itself are considered."

ItemT = TypeVar("ItemT")


def _filters(
    integration: Integration, model: str, params: CommonListParams, **extra: tuple[str, ...] | None
) -> tuple[queries.ListFilters, dict[str, Any]]:
    """The filters to run and the fingerprint a cursor is bound to (the filters exactly as requested)."""
    filters = replace(
        queries.ListFilters(
            updated_after=params.updated_after,
            include_deleted=params.include_deleted,
            ids=params.ids,
            remote_ids=params.remote_ids,
        ),
        **cast(dict[str, Any], extra),
    )
    fingerprint = {**filters.fingerprint(), "ignore_unsupported_filters": params.ignore_unsupported_filters}
    present = [
        name for name in ("updated_after", "ids", "remote_ids", *extra) if getattr(filters, name) is not None
    ]
    unsupported = unsupported_filters(tool_coverage(integration.tool), model, present)
    if unsupported:
        if params.ignore_unsupported_filters:
            filters = replace(filters, **cast(dict[str, Any], dict.fromkeys(unsupported)))
        else:
            # Kombo: a filter on a field the integration does not fill filters out all results
            filters = replace(filters, match_nothing=True)
    return filters, fingerprint


@dataclass(frozen=True)
class ListRequest(Generic[ItemT]):
    """One list endpoint's request: what to read and how to render it."""

    endpoint: str
    model: str
    params: CommonListParams
    query: Callable[[Session, str, queries.ListFilters, str | None, int], queries.PageOf[ItemT]]
    to_wire: Callable[[ItemT], Any]
    extra: dict[str, tuple[str, ...] | None] = field(default_factory=dict)


async def _list(ctx: AppContext, integration_id: str, request: ListRequest[Any]) -> Response:
    # the whole read in one worker-thread hop (a sync route with sync dependencies took four)
    return await ctx.reads.run(partial(_read_page, ctx, integration_id, request))


def _read_page(ctx: AppContext, integration_id: str, request: ListRequest[ItemT]) -> Response:
    with session_scope(ctx.read_engine, readonly=True) as session:
        integration = readable_integration(session, integration_id)
        if not model_available(tool_coverage(integration.tool), request.model):
            raise ApiError(
                "INTEGRATION.MODEL_NOT_AVAILABLE",
                f'The "{request.model}" model is not available for {integration.tool} integrations.',
            )
        require_model(integration, request.model)  # features: a model whose scope is missing
        filters, fingerprint = _filters(integration, request.model, request.params, **request.extra)
        after = None
        if request.params.cursor is not None:
            try:
                after = ctx.cursors.decode(
                    request.params.cursor, request.endpoint, integration.id, fingerprint
                )
            except InvalidCursorError as exc:
                raise input_invalid(f"Invalid cursor: {exc}") from exc
        page = request.query(session, integration.id, filters, after, request.params.page_size)
        results = [request.to_wire(item) for item in page.items]
    next_cursor = (
        ctx.cursors.encode(request.endpoint, integration_id, fingerprint, page.next_after)
        if page.next_after is not None
        else None
    )
    return data_response({"next": next_cursor, "results": results})


@router.get(
    "/users",
    operation_id="GetLmsUsers",
    summary="Get users",
    description="Retrieve all users from the LMS system." + _AND_OR + _OWN_CHANGES,
    response_model=wire.GetLmsUsersPositiveResponse,
)
async def get_users(
    ctx: ContextDep,
    integration_id: HeaderIntegrationId,
    params: ListParams,
    work_emails: Annotated[
        str | None,
        Query(description="Filter by a comma-separated list of work emails (any of them, case-insensitive)."),
    ] = None,
) -> Response:
    return await _list(
        ctx,
        integration_id,
        ListRequest(
            endpoint="lms/users",
            model="lms_users",
            params=params,
            query=queries.list_users,
            to_wire=serialize.as_json(serialize.user),
            extra={"work_emails": parse_list("work_emails", work_emails, lower=True)},
        ),
    )


@router.get(
    "/courses",
    operation_id="GetLmsCourses",
    summary="Get courses",
    description="Retrieve all courses with their provider and revisions."
    + _AND_OR
    + "\n\n`updated_after`: a course matches when it or any of its `revisions` (added, removed or "
    "changed) changed; `provider` and `skill_assignments` changes do not count.",
    response_model=wire.GetLmsCoursesPositiveResponse,
)
async def get_courses(ctx: ContextDep, integration_id: HeaderIntegrationId, params: ListParams) -> Response:
    return await _list(
        ctx,
        integration_id,
        ListRequest(
            endpoint="lms/courses",
            model="lms_courses",
            params=params,
            query=queries.list_courses,
            to_wire=serialize.as_json(serialize.course),
        ),
    )


@router.get(
    "/course-progressions",
    operation_id="GetLmsCourseProgressions",
    summary="Get course progressions",
    description="Course progressions track users enrollment and completion status in courses."
    + _AND_OR
    + "\n\n`updated_after`: only the progression's own changes count (not its `user` or "
    "`course_revision`).",
    response_model=wire.GetLmsCourseProgressionsPositiveResponse,
)
async def get_course_progressions(
    ctx: ContextDep,
    integration_id: HeaderIntegrationId,
    params: ListParams,
    user_ids: Annotated[
        str | None,
        Query(description="Filter by a comma-separated list of user IDs (progressions of any of them)."),
    ] = None,
    course_ids: Annotated[
        str | None,
        Query(description="Filter by a comma-separated list of course IDs (progressions in any of them)."),
    ] = None,
) -> Response:
    return await _list(
        ctx,
        integration_id,
        ListRequest(
            endpoint="lms/course-progressions",
            model="lms_course_progressions",
            params=params,
            query=queries.list_course_progressions,
            to_wire=serialize.stored_json,
            extra={
                "user_ids": parse_list("user_ids", user_ids),
                "course_ids": parse_list("course_ids", course_ids),
            },
        ),
    )


@router.get(
    "/skills",
    operation_id="GetLmsSkills",
    summary="Get skills",
    description="Retrieve all skills." + _AND_OR + _OWN_CHANGES,
    response_model=wire.GetLmsSkillsPositiveResponse,
)
async def get_skills(ctx: ContextDep, integration_id: HeaderIntegrationId, params: ListParams) -> Response:
    return await _list(
        ctx,
        integration_id,
        ListRequest(
            endpoint="lms/skills",
            model="lms_skills",
            params=params,
            query=queries.list_skills,
            to_wire=serialize.as_json(serialize.skill),
        ),
    )
