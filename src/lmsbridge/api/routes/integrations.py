"""``/v1/integrations/{integration_id}``: details, delete (with all data), enable/disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response

from lmsbridge.api import serialize
from lmsbridge.api.deps import PathIntegration, PathIntegrationForUpdate, WriteSession, current_api_key
from lmsbridge.api.responses import json_response
from lmsbridge.store import integrations as repo
from lmsbridge.unified import wire

router = APIRouter(prefix="/integrations", tags=["General"], dependencies=[Depends(current_api_key)])

_EMPTY = wire.EmptyPositiveResponse(data=wire.Empty())


@router.get(
    "/{integration_id}",
    operation_id="GetIntegrationsIntegrationId",
    summary="Get integration details",
    description="Details of an integration: tool, status, setup status, end user, models and actions.",
    response_model=wire.GetIntegrationsIntegrationIdPositiveResponse,
)
def get_integration(integration: PathIntegration) -> Response:
    return json_response(
        wire.GetIntegrationsIntegrationIdPositiveResponse(data=serialize.integration_details(integration))
    )


@router.delete(
    "/{integration_id}",
    operation_id="DeleteIntegrationsIntegrationId",
    summary="Delete integration",
    description="Delete the integration and all of its data (records, sync runs, logs). Can not be undone!",
    response_model=wire.EmptyPositiveResponse,
)
def delete_integration(integration: PathIntegrationForUpdate, session: WriteSession) -> Response:
    repo.delete_integration(session, integration.id)
    return json_response(_EMPTY)


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
    repo.set_enabled(session, integration.id, body.value)
    return json_response(_EMPTY)
