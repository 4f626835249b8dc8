"""``GET /v1/logs/{log_id}`` (our extension): the logged interaction an error's ``log_url`` points to."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from lmsbridge.api.deps import ReadSession, current_api_key
from lmsbridge.api.errors import NOT_FOUND_TITLE, ApiError
from lmsbridge.api.params import reject_nul
from lmsbridge.api.responses import json_response
from lmsbridge.store.logs import get_log
from lmsbridge.unified.wire import Timestamp, WireModel

EXTENSIONS_TAG = "lmsbridge extensions"

router = APIRouter(prefix="/logs", tags=[EXTENSIONS_TAG], dependencies=[Depends(current_api_key)])


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
    description="lmsbridge extension: the interaction an error's `log_url` points to (secrets redacted).",
    response_model=GetLogResponse,
)
def get_interaction_log(log_id: str, session: ReadSession) -> Response:
    reject_nul("log_id", log_id)
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
