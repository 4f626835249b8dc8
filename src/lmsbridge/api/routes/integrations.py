"""``/v1/integrations/{integration_id}``: details, delete (with all data), enable/disable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session

from lmsbridge.api.deps import (
    PathIntegration,
    PathIntegrationForUpdate,
    ReadSession,
    WriteSession,
    current_api_key,
)
from lmsbridge.api.responses import json_response
from lmsbridge.api.routes.features import GetIntegrationWithTestsResponse, integration_details_with_tests
from lmsbridge.jobs import control
from lmsbridge.store import sync_runs
from lmsbridge.store.schema import Integration
from lmsbridge.unified import wire

router = APIRouter(prefix="/integrations", tags=["General"], dependencies=[Depends(current_api_key)])

_EMPTY = wire.EmptyPositiveResponse(data=wire.Empty())


@router.get(
    "/{integration_id}",
    operation_id="GetIntegrationsIntegrationId",
    summary="Get integration details",
    description="Details of an integration: tool, status, setup status, end user, models and actions.",
    # features: availability from the scope test; per-model tests and qa_status as extensions
    response_model=GetIntegrationWithTestsResponse,
)
def get_integration(integration: PathIntegration, session: ReadSession) -> Response:
    last_run = sync_runs.last_run(session, integration.id)
    return json_response(integration_details_with_tests(integration, last_run))


@router.delete(
    "/{integration_id}",
    operation_id="DeleteIntegrationsIntegrationId",
    summary="Delete integration",
    description="Delete the integration and all of its data (records, sync runs, logs). Can not be undone!",
    response_model=wire.EmptyPositiveResponse,
)
def delete_integration(integration: PathIntegrationForUpdate, session: WriteSession) -> Response:
    remove_integration(session, integration)
    return json_response(_EMPTY)


def remove_integration(session: Session, integration: Integration) -> None:
    """Delete with all data (the dashboard calls this too)."""
    control.delete(session, integration, datetime.now(UTC))


def change_enabled(session: Session, integration: Integration, value: bool) -> None:
    """Enable or disable (the dashboard calls this too)."""
    control.set_enabled(session, integration, value, datetime.now(UTC))


@router.put(
    "/{integration_id}/enabled",
    operation_id="PutIntegrationsIntegrationIdEnabled",
    summary="Set integration enabled",
    description="Enable or disable an integration. A disabled integration is not synced and its data "
    "endpoints answer `INTEGRATION.INACTIVE`; credentials and data are kept.",
    response_model=wire.EmptyPositiveResponse,
)
def set_enabled(
    integration: PathIntegrationForUpdate, session: WriteSession, body: Annotated[wire.SetEnabledBody, Body()]
) -> Response:
    change_enabled(session, integration, body.value)
    return json_response(_EMPTY)
