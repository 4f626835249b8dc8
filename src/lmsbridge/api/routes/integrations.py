"""``/v1/integrations``: connect one (our extension), and Kombo's details, delete (with all data),
enable/disable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from lmsbridge.api.deps import (
    ContextDep,
    PathIntegration,
    PathIntegrationForUpdate,
    ReadSession,
    WriteSession,
    current_api_key,
    wake_background,
)
from lmsbridge.api.errors import ApiError
from lmsbridge.api.responses import json_response
from lmsbridge.api.routes.features import GetIntegrationWithTestsResponse, integration_details_with_tests
from lmsbridge.api.routes.logs import EXTENSIONS_TAG
from lmsbridge.connect import ConnectError, connect_integration
from lmsbridge.connectors.registry import CONNECTORS, connection_help
from lmsbridge.crypto import SecretBox
from lmsbridge.jobs import control
from lmsbridge.store import sync_runs
from lmsbridge.store.schema import Integration
from lmsbridge.unified import wire
from lmsbridge.unified.wire import WireModel

# Kombo's operations are tagged "General" (their errors follow its rules); connecting is our extension
router = APIRouter(prefix="/integrations", dependencies=[Depends(current_api_key)])

_EMPTY = wire.EmptyPositiveResponse(data=wire.Empty())


@router.get(
    "/{integration_id}",
    operation_id="GetIntegrationsIntegrationId",
    tags=["General"],
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
    tags=["General"],
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
    tags=["General"],
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


class ConnectBody(BaseModel):
    """Connect an LMS tenant (our extension: Kombo does this through its Connect flow); what each tool
    takes comes from its connector (``Connector.connection_help``)."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(examples=list(CONNECTORS))
    credentials: dict[str, str] = Field(description=connection_help("credentials") + ".")
    host: str | None = Field(
        default=None, description=connection_help("host") + ". Left out: the tool's first named host."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Optional. " + connection_help("settings") + "."
    )
    end_user: dict[str, Any] = Field(
        description="`organization_name` (required), `creator_email`, `origin_id`."
    )


class Connected(WireModel):
    id: str
    tool: str
    sync_id: str | None
    scopes: dict[str, str]


class ConnectedResponse(wire.Success[Connected]):
    pass


@router.post(
    "",
    operation_id="PostIntegrations",
    tags=[EXTENSIONS_TAG],
    summary="Connect an integration",
    description="Verify the credentials (a token request), store them encrypted, run the scope test and "
    "queue the first FULL sync. Nothing is stored when the credentials are refused.",
    response_model=ConnectedResponse,
)
async def connect(request: Request, ctx: ContextDep, body: Annotated[ConnectBody, Body()]) -> Response:
    try:
        connected = await connect_integration(
            ctx.engine,
            SecretBox.from_settings(ctx.settings),
            ctx.settings,
            tool=body.tool,
            host=body.host,
            credentials=body.credentials,
            end_user=body.end_user,
            integration_settings=body.settings,
        )
    except ConnectError as exc:
        raise ApiError(exc.code, exc.message) from None
    wake_background(request)
    data = Connected(
        id=connected.integration_id,
        tool=body.tool,
        sync_id=connected.sync_id,
        scopes={name: check.status for name, check in connected.scope_test.scopes.items()},
    )
    return json_response(ConnectedResponse(data=data))
