"""``GET /v1/logs/{log_id}`` (our extension): the logged interaction an error's ``log_url`` points to."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from lmsbridge.api.deps import ContextDep, ReadSession, bearer, current_api_key
from lmsbridge.api.errors import NOT_FOUND_TITLE, ApiError
from lmsbridge.api.params import reject_nul
from lmsbridge.api.responses import json_response
from lmsbridge.store.logs import get_log
from lmsbridge.unified.wire import Timestamp, WireModel

EXTENSIONS_TAG = "lmsbridge extensions"

# where a browser reads a log: the dashboard's page of it (signed in with the dashboard's session)
DASHBOARD_LOG_PATH = "/dashboard/logs/"


def opened_in_browser(request: Request) -> bool:
    """A browser following a ``log_url`` (it asks for HTML and sends no API key); API clients get JSON."""
    return "text/html" in request.headers.get("accept", "") and "authorization" not in request.headers


async def api_key_unless_browser(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    # a browser is only redirected to the dashboard, which asks it to sign in
    if not opened_in_browser(request):
        await current_api_key(request, ctx, credentials)


router = APIRouter(prefix="/logs", tags=[EXTENSIONS_TAG], dependencies=[Depends(api_key_unless_browser)])


class InteractionLog(WireModel):
    id: str
    integration_id: str | None
    kind: str
    method: str | None
    url: str | None
    status_code: int | None
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    error: str | None
    duration_ms: int | None
    created_at: Timestamp


class GetLogResponse(WireModel):
    status: Literal["success"] = "success"
    data: InteractionLog


@router.get(
    "/{log_id}",
    operation_id="GetLogsLogId",
    summary="Get an interaction log",
    description="lmsbridge extension: the interaction an error's `log_url` points to (secrets redacted). "
    "A browser (`Accept: text/html`, no API key) is sent to the dashboard's page of the log.",
    response_model=GetLogResponse,
)
def get_interaction_log(request: Request, log_id: str, session: ReadSession) -> Response:
    reject_nul("log_id", log_id)
    if opened_in_browser(request):
        return RedirectResponse(DASHBOARD_LOG_PATH + quote(log_id, safe=""), status_code=303)
    row = get_log(session, log_id)
    if row is None:
        raise ApiError(None, f"No interaction log with id {log_id!r}.", status=404, title=NOT_FOUND_TITLE)
    return json_response(
        GetLogResponse(
            data=InteractionLog(
                id=row.id,
                integration_id=row.integration_id,
                kind=row.kind,
                method=row.method,
                url=row.url,
                status_code=row.status_code,
                request=row.request,
                response=row.response,
                error=row.error,
                duration_ms=row.duration_ms,
                created_at=row.created_at,
            )
        )
    )
