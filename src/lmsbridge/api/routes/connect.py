"""Kombo Connect: ``POST /v1/connect/create-link``, ``GET /v1/connect/integration-by-token/{token}`` and
``POST /v1/integrations/{integration_id}/relink``. A link opens the hosted Connect page (lmsbridge.web),
where the end customer enters their credentials; the page creates (or relinks) the integration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response
from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from lmsbridge.api.deps import (
    ContextDep,
    PathIntegration,
    ReadSession,
    WriteSession,
    current_api_key,
    load_integration,
)
from lmsbridge.api.errors import ApiError, input_invalid
from lmsbridge.api.params import reject_nul
from lmsbridge.api.responses import json_response
from lmsbridge.connectors.registry import CONNECTORS
from lmsbridge.settings import Settings
from lmsbridge.store import connect_links
from lmsbridge.store.integrations import get_integration
from lmsbridge.unified import wire
from lmsbridge.unified.wire import WireModel

router = APIRouter(dependencies=[Depends(current_api_key)])

Language = Literal["en", "de", "fr", "it", "es"]
LinkType = Literal["EMBEDDED", "MAGIC_LINK"]
# the path of the hosted page a link opens (lmsbridge.web.connect_pages)
CONNECT_PAGE_PATH = "/connect"


class CreateLinkBody(WireModel):
    """Kombo's request body; the options lmsbridge has no use for must keep their defaults."""

    end_user_email: str = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    end_user_organization_name: str = Field(min_length=1, max_length=500)
    end_user_origin_id: str | None = Field(default=None, min_length=1, max_length=500)
    remote_environment: str | None = None
    integration_category: Literal["HRIS", "ATS", "ASSESSMENT", "LMS"] = "LMS"
    integration_tool: str | None = None
    language: Language | None = "en"
    scope_config_id: str | None = None
    enable_filtering: bool = False
    enable_field_mapping: bool = False
    link_type: LinkType = "EMBEDDED"

    @field_validator("integration_tool")
    @classmethod
    def _known_tool(cls, value: str | None) -> str | None:
        if value is not None and value not in CONNECTORS:
            raise ValueError(f"lmsbridge connects {', '.join(sorted(CONNECTORS))}; not {value!r}")
        return value


class RelinkBody(WireModel):
    language: Language | None = "en"
    scope_config_id: str | None = None
    link_type: LinkType = "EMBEDDED"


class Link(WireModel):
    link: str


class LinkResponse(wire.Success[Link]):
    pass


class IntegrationByToken(WireModel):
    tool: str
    id: str
    end_user_origin_id: str | None
    end_user_organization_name: str
    end_user_email: str | None
    setup_status: Literal["INCOMPLETE", "FINAL_SYNC_PENDING", "COMPLETED"]


class IntegrationByTokenResponse(wire.Success[IntegrationByToken]):
    pass


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}{CONNECT_PAGE_PATH}?{urlencode({'token': token})}"


def _unsupported(option: str, why: str) -> ApiError:
    return input_invalid(f"{option}: {why}")


def create_relink(session: Session, settings: Settings, integration_id: str, body: RelinkBody) -> str:
    """A Connect link that replaces the integration's credentials in place; the dashboard and the CLI
    call this too."""
    if body.scope_config_id is not None:
        raise _unsupported("scope_config_id", "lmsbridge has no scope configs; leave it null")
    integration = load_integration(session, integration_id)
    _, token = connect_links.create_link(
        session,
        now=datetime.now(UTC),
        link_type=body.link_type,
        language=body.language or "en",
        tool=integration.tool,
        end_user=dict(integration.end_user or {}),
        integration_id=integration.id,
    )
    return link_url(settings, token)


@router.post(
    "/connect/create-link",
    operation_id="PostConnectCreateLink",
    tags=["Kombo Connect"],
    summary="Create connection link",
    description="A single-use link to the hosted Connect page, where your customer enters their LMS "
    "credentials. `EMBEDDED` links are valid for 1 hour, `MAGIC_LINK` links for 1 year. Once the flow "
    "is completed, `GET /connect/integration-by-token/{token}` (the link's `token`) returns the integration.",
    response_model=LinkResponse,
)
def create_link(ctx: ContextDep, session: WriteSession, body: Annotated[CreateLinkBody, Body()]) -> Response:
    if body.integration_category != "LMS":
        raise _unsupported("integration_category", "lmsbridge connects LMS tools only; use LMS")
    if body.remote_environment is not None:
        raise _unsupported("remote_environment", "the LMS tools lmsbridge connects have no environments")
    if body.scope_config_id is not None:
        raise _unsupported("scope_config_id", "lmsbridge has no scope configs; leave it null")
    if body.enable_filtering or body.enable_field_mapping:
        raise _unsupported("enable_filtering/enable_field_mapping", "not available for LMS integrations")
    end_user = {
        "organization_name": body.end_user_organization_name,
        "creator_email": body.end_user_email,
        "origin_id": body.end_user_origin_id,
    }
    _, token = connect_links.create_link(
        session,
        now=datetime.now(UTC),
        link_type=body.link_type,
        language=body.language or "en",
        tool=body.integration_tool,
        end_user=end_user,
    )
    return json_response(LinkResponse(data=Link(link=link_url(ctx.settings, token))))


@router.get(
    "/connect/integration-by-token/{token}",
    operation_id="GetConnectIntegrationByTokenToken",
    tags=["Kombo Connect"],
    summary="Get integration by token",
    description="The integration a completed Connect flow created (or relinked); `token` is the one in "
    "the link's `token` parameter.",
    response_model=IntegrationByTokenResponse,
)
def integration_by_token(token: str, session: ReadSession) -> Response:
    reject_nul("token", token)
    found = connect_links.find_link(session, token, datetime.now(UTC))
    if found.link is None:
        raise input_invalid("No Connect link has this token.")
    if found.link.used_at is None or found.link.integration_id is None:
        raise input_invalid("The Connect flow of this token has not been completed yet.")
    integration = get_integration(session, found.link.integration_id)
    if integration is None:
        raise ApiError("PLATFORM.INTEGRATION_NOT_FOUND", "The integration of this token has been deleted.")
    end_user = integration.end_user or {}
    data = IntegrationByToken(
        tool=integration.tool,
        id=integration.id,
        end_user_origin_id=end_user.get("origin_id"),
        end_user_organization_name=str(end_user.get("organization_name") or ""),
        end_user_email=end_user.get("creator_email"),
        setup_status=integration.setup_status,
    )
    return json_response(IntegrationByTokenResponse(data=data))


@router.post(
    "/integrations/{integration_id}/relink",
    operation_id="PostIntegrationsIntegrationIdRelink",
    tags=["General"],
    summary="Create reconnection link",
    description="A link to the hosted Connect page that replaces the integration's credentials (or "
    "region) in place: the integration keeps its id and its records keep theirs. `EMBEDDED` links are "
    "valid for 1 hour, `MAGIC_LINK` links for 1 year.",
    response_model=LinkResponse,
)
def relink(
    ctx: ContextDep,
    integration: PathIntegration,
    session: WriteSession,
    body: Annotated[RelinkBody | None, Body()] = None,
) -> Response:
    url = create_relink(session, ctx.settings, integration.id, body or RelinkBody())
    return json_response(LinkResponse(data=Link(link=url)))
