"""``POST /v1/force-sync`` (Kombo) and our extensions to list and cancel an integration's syncs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from lmsbridge.api.deps import (
    ReadSession,
    WriteSession,
    current_api_key,
    load_integration,
    wake_background,
)
from lmsbridge.api.errors import ApiError
from lmsbridge.api.params import reject_nul
from lmsbridge.api.responses import json_response
from lmsbridge.api.routes.logs import EXTENSIONS_TAG
from lmsbridge.jobs import control
from lmsbridge.store import sync_runs
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.unified import wire
from lmsbridge.unified.wire import Timestamp, WireModel

router = APIRouter(dependencies=[Depends(current_api_key)])


def queue_sync(
    request: Request, session: Session, integration: Integration, sync_type: str
) -> wire.ForceSync:
    """What ``POST /v1/force-sync`` does once the integration is loaded; the dashboard calls it too, so a
    change to the job system changes this one place."""
    try:
        run, already = control.force_sync(session, integration, sync_type, datetime.now(UTC))
    except control.IntegrationDisabled as exc:
        raise ApiError("INTEGRATION.INACTIVE", str(exc)) from None
    session.commit()  # visible to the job system before it is woken
    wake_background(request)
    return wire.ForceSync(already_queued=already, sync_id=run.id, type=run.type)


@router.post(
    "/force-sync",
    operation_id="PostForceSync",
    tags=["General"],
    summary="Trigger sync",
    description="Queue a sync of the integration. Only one sync per integration is queued or running: "
    "if one is, its id is returned with `already_queued: true` (its type may differ from the request).",
    response_model=wire.PostForceSyncPositiveResponse,
)
def force_sync(
    request: Request,
    session: WriteSession,
    x_integration_id: Annotated[str, Header(alias="X-Integration-Id", description="ID of the integration.")],
    body: Annotated[wire.ForceSyncBody | None, Body()] = None,
) -> Response:
    integration = load_integration(session, x_integration_id.strip())
    data = queue_sync(request, session, integration, (body or wire.ForceSyncBody()).type)
    return json_response(wire.PostForceSyncPositiveResponse(data=data))


class SyncRunView(WireModel):
    id: str
    type: str
    state: str
    created_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None
    api_calls: int
    counts: dict[str, dict[str, int]]
    warnings: list[str]
    error: str | None
    log_id: str | None


class SyncRunsResponse(wire.Success[list[SyncRunView]]):
    pass


class SyncRunResponse(wire.Success[SyncRunView]):
    pass


def _view(run: SyncRun) -> SyncRunView:
    return SyncRunView(
        id=run.id,
        type=run.type,
        state=run.state,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        api_calls=run.api_calls,
        counts=(run.streams or {}).get("counts", {}),
        warnings=list(run.warnings or []),
        error=run.error,
        log_id=run.log_id,
    )


@router.get(
    "/integrations/{integration_id}/syncs",
    operation_id="GetIntegrationsIntegrationIdSyncs",
    tags=[EXTENSIONS_TAG],
    summary="List recent syncs",
    description="The integration's most recent sync runs, newest first, with per-model counts.",
    response_model=SyncRunsResponse,
)
def list_syncs(integration_id: str, session: ReadSession) -> Response:
    integration = load_integration(session, integration_id)
    runs = [_view(run) for run in sync_runs.list_runs(session, integration.id, limit=20)]
    return json_response(SyncRunsResponse(data=runs))


@router.post(
    "/integrations/{integration_id}/syncs/{sync_id}/cancel",
    operation_id="PostIntegrationsIntegrationIdSyncsSyncIdCancel",
    tags=[EXTENSIONS_TAG],
    summary="Cancel a sync",
    description="Cancel a queued sync at once, a running one within a few seconds (at its next heartbeat; "
    "what it wrote stays). A finished sync is answered as it is. Disabling the integration cancels its "
    "syncs too.",
    response_model=SyncRunResponse,
)
def cancel_sync(integration_id: str, sync_id: str, session: WriteSession) -> Response:
    integration = load_integration(session, integration_id)
    reject_nul("sync id", sync_id)
    run = sync_runs.get_run(session, sync_id)
    if run is None or run.integration_id != integration.id:
        raise ApiError("PLATFORM.INPUT_INVALID", f"The integration has no sync with id {sync_id!r}.")
    run = control.cancel_sync(session, sync_id, datetime.now(UTC)) or run
    return json_response(SyncRunResponse(data=_view(run)))
