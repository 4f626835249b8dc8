"""``/v1/lms`` write actions: upsert courses (async task), deactivate course, enroll, complete.

Each action request holds one of the integration's 30 in-flight slots (429 beyond), answers with a
``Concurrency-Remaining`` header, and is logged as an interaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lmsbridge.actions import courses_upsert, progressions, resolve, tasks
from lmsbridge.actions.errors import ActionError, from_connector
from lmsbridge.actions.limits import ConcurrencyExceeded, InFlightLimiter
from lmsbridge.actions.remote import RemoteAccess
from lmsbridge.actions.store_writes import store_courses
from lmsbridge.api import serialize
from lmsbridge.api.deps import (
    AppContext,
    ContextDep,
    current_api_key,
    load_integration,
    require_readable,
    wake_background,
)
from lmsbridge.api.error_handlers import error_response
from lmsbridge.api.errors import ApiError
from lmsbridge.api.responses import json_response
from lmsbridge.clock import utcnow
from lmsbridge.connectors.errors import ConnectorError, NotFound
from lmsbridge.connectors.registry import EXAMPLE_INTEGRATION_ID
from lmsbridge.connectors.writes import WriteActions
from lmsbridge.crypto import SecretBox, load_or_create_key
from lmsbridge.features.availability import require_action
from lmsbridge.store import queries
from lmsbridge.store.engine import session_scope
from lmsbridge.store.logs import write_log
from lmsbridge.store.schema import Integration
from lmsbridge.unified import wire
from lmsbridge.unified.action_wire import (
    CompleteBody,
    EnrollBody,
    GetLmsCoursesBulkTaskIdPositiveResponse,
    PostLmsCourseProgressionsCourseProgressionIdCompletePositiveResponse,
    PostLmsCourseProgressionsPositiveResponse,
    PostLmsCoursesBulkPositiveResponse,
    PostLmsCoursesCourseIdDeactivatePositiveResponse,
    TaskCompleted,
    TaskFailed,
    TaskId,
    TaskPending,
    Warning_,
)

router = APIRouter(prefix="/lms", tags=["Unified LMS API"], dependencies=[Depends(current_api_key)])

CONCURRENCY_HEADER = "Concurrency-Remaining"


def action_integration(
    ctx: ContextDep,
    x_integration_id: Annotated[
        str,
        Header(
            alias="X-Integration-Id",
            description="ID of the integration you want to interact with.",
            examples=[EXAMPLE_INTEGRATION_ID],
        ),
    ],
) -> Integration:
    """The integration, loaded in its own short session: an action must not hold a pooled connection
    for its whole duration (it opens write transactions and waits on the LMS meanwhile)."""
    integration_id = x_integration_id.strip()
    with session_scope(ctx.engine, readonly=True) as session:
        integration = load_integration(session, integration_id)
        session.expunge(integration)
    require_readable(integration)
    return integration


HeaderIntegration = Annotated[Integration, Depends(action_integration)]


# ---- per-process services ---------------------------------------------------------------------------


class ActionServices:
    """The API process's limiter and LMS access (created on first use, kept on app.state)."""

    def __init__(self, ctx: AppContext) -> None:
        self.limiter = InFlightLimiter()
        self.remote = RemoteAccess(ctx.engine, SecretBox(load_or_create_key(ctx.settings)), ctx.settings)


def services(request: Request) -> ActionServices:
    found = getattr(request.app.state, "actions", None)
    if not isinstance(found, ActionServices):
        found = ActionServices(request.app.state.ctx)
        request.app.state.actions = found
    return found


async def close_action_services(app: Any) -> None:
    """Release the API process's connectors (call from the app lifespan's shutdown)."""
    found = getattr(app.state, "actions", None)
    if isinstance(found, ActionServices):
        app.state.actions = None
        await found.remote.aclose()


def _api_error(exc: ActionError) -> ApiError:
    return ApiError(exc.code, exc.message, status=exc.status)


async def _action(
    request: Request,
    integration: Integration,
    action: str,
    work: Callable[[ActionServices], Awaitable[Response]],
) -> Response:
    """Run one action under the integration's in-flight limit; failures become Kombo envelopes. An action
    whose LMS scope the last scope test found missing is refused first, naming the scope, before
    anything is stored or sent."""
    require_action(integration, action)
    svc = services(request)
    try:
        with svc.limiter.slot(integration.id) as remaining:
            try:
                response = await work(svc)
            except ActionError as exc:
                response = await error_response(request, _api_error(exc))
            except ConnectorError as exc:
                writer = await _writer_or_none(svc, integration.id)
                response = await error_response(request, _api_error(from_connector(exc, writer)))
            response.headers[CONCURRENCY_HEADER] = str(remaining)
            return response
    except ConcurrencyExceeded:
        error = ApiError(
            "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",
            f"More than {svc.limiter.limit} action requests are in flight for integration {integration.id}; "
            "retry when one has finished.",
        )
        response = await error_response(request, error)
        response.headers[CONCURRENCY_HEADER] = "0"
        return response


async def _writer_or_none(svc: ActionServices, integration_id: str) -> WriteActions | None:
    """The integration's write actions for translating a failure (None when they cannot be had)."""
    try:
        return await svc.remote.writer(integration_id, prepare=False)
    except Exception:
        return None


def _log(session: Session, request: Request, integration_id: str, body: Any, response: dict[str, Any]) -> str:
    entry = write_log(
        session,
        "action",
        integration_id=integration_id,
        method=request.method,
        url=str(request.url),
        status_code=200,
        request={"body": body},
        response=response,
    )
    return str(entry.id)


async def _in_db(ctx: AppContext, work: Callable[[Session], Any]) -> Any:
    def run() -> Any:
        with session_scope(ctx.engine) as session:
            return work(session)

    return await run_in_threadpool(run)


# ---- upsert courses ----------------------------------------------------------------------------------


@router.post(
    "/courses/bulk",
    operation_id="PostLmsCoursesBulk",
    summary="Upsert courses",
    description="Create or update courses (by `origin_id`) in the LMS, as external courses of "
    "lmsbridge's own course provider there. Asynchronous: returns a `task_id` at once; poll "
    "`GET /lms/courses/bulk/{task_id}`. Items that fail validation are not sent and are reported as "
    "`FAILED` in the task result.",
    response_model=PostLmsCoursesBulkPositiveResponse,
)
async def post_courses_bulk(
    request: Request,
    ctx: ContextDep,
    integration: HeaderIntegration,
    body: Annotated[dict[str, Any], Body(examples=[{"items": []}])],
) -> Response:
    async def work(svc: ActionServices) -> Response:
        writer = await svc.remote.writer(integration.id, prepare=False)
        settings = dict(integration.settings or {})
        prepared = courses_upsert.prepare_request(
            body, lambda origin_id, course: writer.upsert_payload(origin_id, course, settings)
        )
        invalid = [e for e in prepared["items"] if "error" in e]

        def submit(session: Session) -> str:
            log_id = _log(session, request, integration.id, body, {"items": len(prepared["items"])})
            task = courses_upsert.submit(session, integration.id, prepared, utcnow(), log_id)
            return task.id

        task_id = await _in_db(ctx, submit)
        wake_background(request)
        warnings = [
            Warning_(message=f"{writer.label} imports courses asynchronously; poll the task for the result.")
        ]
        if invalid:
            warnings.append(
                Warning_(
                    message=f"{len(invalid)} of {len(prepared['items'])} items failed validation and "
                    "will not be sent; the task result reports them as FAILED."
                )
            )
        return json_response(
            PostLmsCoursesBulkPositiveResponse(data=TaskId(task_id=task_id), warnings=warnings)
        )

    return await _action(request, integration, "lms_upsert_courses", work)


@router.get(
    "/courses/bulk/{task_id}",
    operation_id="GetLmsCoursesBulkTaskId",
    summary='Get status of "Upsert courses" task',
    description="`PENDING` while the LMS processes the upsert; `COMPLETED` with one result per item; "
    "`FAILED` when the task as a whole failed.",
    response_model=GetLmsCoursesBulkTaskIdPositiveResponse,
)
def get_courses_bulk_task(ctx: ContextDep, integration: HeaderIntegration, task_id: str) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        task = tasks.get_task(session, integration.id, task_id)
        if task is None or task.kind != tasks.UPSERT:
            raise ApiError(
                "PLATFORM.INPUT_INVALID", f"No upsert-courses task with id {task_id!r} exists.", status=404
            )
        view = courses_upsert.task_view(task)
    model: TaskPending | TaskCompleted | TaskFailed
    if view["status"] == "COMPLETED":
        model = TaskCompleted.model_validate(view)
    elif view["status"] == "FAILED":
        model = TaskFailed.model_validate(view)
    else:
        model = TaskPending.model_validate(view)
    return json_response(GetLmsCoursesBulkTaskIdPositiveResponse(data=model))


# ---- deactivate course --------------------------------------------------------------------------------


def _course_wire(session: Session, integration_id: str, course_id: str) -> wire.Course:
    filters = queries.ListFilters(ids=(course_id,), include_deleted=True)
    page = queries.list_courses(session, integration_id, filters, None, 1)
    return serialize.course(page.items[0])


@router.post(
    "/courses/{course_id}/deactivate",
    operation_id="PostLmsCoursesCourseIdDeactivate",
    summary="Deactivate course",
    description="Deactivates (archives) the course in the LMS (existing progress is kept); its revision "
    "becomes `INACTIVE`. Upserting it again or restoring it in the LMS brings it back with the next sync.",
    response_model=PostLmsCoursesCourseIdDeactivatePositiveResponse,
)
async def post_course_deactivate(
    request: Request,
    ctx: ContextDep,
    integration: HeaderIntegration,
    course_id: str,
    body: Annotated[dict[str, Any] | None, Body(examples=[{}])] = None,
) -> Response:
    async def work(svc: ActionServices) -> Response:
        def find(session: Session) -> str:
            return resolve.course(session, integration.id, course_id).remote_id

        remote_id = await _in_db(ctx, find)
        connector = await svc.remote.connector(integration.id)
        try:
            dto = await connector.deactivate_course(remote_id)
        except NotFound as exc:
            raise ActionError(
                "PLATFORM.INPUT_INVALID",
                f"Course {course_id!r} (remote id {remote_id}) no longer exists in the LMS.",
                status=404,
            ) from exc
        writer = await svc.remote.writer(integration.id, prepare=False)

        def save(session: Session) -> wire.Course:
            now = utcnow()
            [kombo_id] = store_courses(
                session, integration.id, writer, [(dto, None)], now, with_provider=False
            )
            _log(
                session,
                request,
                integration.id,
                body or {},
                {"course_id": kombo_id, "status": dto.get("status")},
            )
            return _course_wire(session, integration.id, kombo_id)

        course = await _in_db(ctx, save)
        wake_background(request)  # its data-changed event is due now
        return json_response(PostLmsCoursesCourseIdDeactivatePositiveResponse(data=course, warnings=[]))

    return await _action(request, integration, "lms_deactivate_course", work)


# ---- enroll and complete ----------------------------------------------------------------------------


def _progression_wire(session: Session, integration_id: str, progression_id: str) -> wire.CourseProgression:
    filters = queries.ListFilters(ids=(progression_id,), include_deleted=True)
    page = queries.list_course_progressions(session, integration_id, filters, None, 1)
    if not page.items:
        raise ActionError("PLATFORM.UNKNOWN_ERROR", f"progression {progression_id} could not be read back")
    # the list endpoint's rendering, validated into the model the action's response nests
    return wire.CourseProgression.model_validate_json(page.items[0])


def _logged_progression(
    session: Session,
    request: Request,
    integration_id: str,
    request_body: dict[str, Any],
    outcome: progressions.Outcome,
) -> tuple[wire.CourseProgression, bool]:
    """Log an enroll/complete call and read back the progression it returns (same transaction)."""
    result = {"progression_id": outcome.progression_id, "queued": outcome.queued, "task_id": outcome.task_id}
    _log(session, request, integration_id, request_body, result)
    return _progression_wire(session, integration_id, outcome.progression_id), outcome.queued


def _progression_reply(
    request: Request,
    response_type: type[Any],
    progression: wire.CourseProgression,
    queued: bool,
    *,
    lms: str,
    queued_what: str,
    unchanged: str,
) -> Response:
    """The action's answer: the progression at once, with a warning that says what happens next."""
    if queued:
        wake_background(request)
        warning = progressions.ASYNC_WARNING.format(lms=lms, what=queued_what)
    else:
        warning = unchanged
    return json_response(response_type(data=progression, warnings=[Warning_(message=warning)]))


@router.post(
    "/course-progressions",
    operation_id="PostLmsCourseProgressions",
    summary="Enroll user in course",
    description="Enrolls a user in a course the LMS lets lmsbridge enroll in (for some LMSs only external "
    "courses of lmsbridge's own course provider). Returns the progression (`ENROLLED`) "
    "at once; an already enrolled user gets the existing progression and nothing is sent.",
    response_model=PostLmsCourseProgressionsPositiveResponse,
)
async def post_course_progressions(
    request: Request, ctx: ContextDep, integration: HeaderIntegration, body: EnrollBody
) -> Response:
    async def work(svc: ActionServices) -> Response:
        writer = await svc.remote.writer(integration.id)
        now = utcnow()

        def enroll(session: Session) -> tuple[wire.CourseProgression, bool]:
            outcome = progressions.enroll(
                session,
                integration.id,
                user_ref=body.user_id,
                revision_ref=body.course_revision_id,
                writer=writer,
                now=now,
            )
            return _logged_progression(session, request, integration.id, body.model_dump(), outcome)

        progression, queued = await _in_db(ctx, enroll)
        return _progression_reply(
            request,
            PostLmsCourseProgressionsPositiveResponse,
            progression,
            queued,
            lms=writer.label,
            queued_what="the enrollment",
            unchanged="The user is already enrolled in this course: the existing progression is returned.",
        )

    return await _action(request, integration, "lms_enroll_user", work)


def parse_completed_at(value: str | None, now: datetime) -> datetime | None:
    """Kombo's date or date-time (UTC when no zone is given); a date means its midnight UTC."""
    if value is None:
        return None
    try:
        if "T" in value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        else:
            parsed = datetime.combine(date.fromisoformat(value), dtime(0), tzinfo=UTC)
    except ValueError as exc:
        raise ActionError("PLATFORM.INPUT_INVALID", f"completed_at: {value!r} is not a valid date") from exc
    if parsed > now:
        raise ActionError("PLATFORM.INPUT_INVALID", f"completed_at: {value!r} lies in the future")
    return parsed


@router.post(
    "/course-progressions/{course_progression_id}/complete",
    operation_id="PostLmsCourseProgressionsCourseProgressionIdComplete",
    summary="Complete course",
    description="Completes the progression (its open attempt, where the LMS keeps attempts) in the LMS. "
    "Returns the progression `COMPLETED` at once; completing a completed progression changes nothing.",
    response_model=PostLmsCourseProgressionsCourseProgressionIdCompletePositiveResponse,
)
async def post_course_progression_complete(
    request: Request,
    ctx: ContextDep,
    integration: HeaderIntegration,
    course_progression_id: str,
    body: Annotated[CompleteBody | None, Body()] = None,
) -> Response:
    payload = body or CompleteBody()

    async def work(svc: ActionServices) -> Response:
        now = utcnow()
        completed_at = parse_completed_at(payload.completed_at, now)
        writer = await svc.remote.writer(integration.id)

        def complete(session: Session) -> tuple[wire.CourseProgression, bool]:
            outcome = progressions.complete(
                session,
                integration.id,
                progression_ref=course_progression_id,
                completed_at=completed_at,
                score=payload.score,
                writer=writer,
                now=now,
            )
            return _logged_progression(session, request, integration.id, payload.model_dump(), outcome)

        progression, queued = await _in_db(ctx, complete)
        return _progression_reply(
            request,
            PostLmsCourseProgressionsCourseProgressionIdCompletePositiveResponse,
            progression,
            queued,
            lms=writer.label,
            queued_what="the completion",
            unchanged="The progression was already completed: nothing was changed.",
        )

    return await _action(request, integration, "lms_complete_course", work)
