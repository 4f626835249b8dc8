"""Our extensions for Kombo's connector features: run an integration's scope test or model tests now.

``POST /v1/integrations/{id}/scope-test`` and ``POST /v1/integrations/{id}/model-tests`` (tagged as
lmsbridge extensions in the OpenAPI document). Both store their result on the integration, where
``GET /v1/integrations/{id}`` shows its effect (``read_models``, ``write_actions``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from lmsbridge.api import serialize
from lmsbridge.api.deps import ContextDep, current_api_key, detached_integration
from lmsbridge.api.responses import json_response
from lmsbridge.api.routes.logs import EXTENSIONS_TAG
from lmsbridge.clock import utcnow
from lmsbridge.connections import open_connector
from lmsbridge.crypto import SecretBox
from lmsbridge.features.model_tests import run_model_tests
from lmsbridge.features.scope_test import scope_test_integration
from lmsbridge.incoming import subscriptions
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.unified import wire
from lmsbridge.unified.wire import WireModel

router = APIRouter(prefix="/integrations", tags=[EXTENSIONS_TAG], dependencies=[Depends(current_api_key)])


class ScopeCheckOut(WireModel):
    status: Literal["granted", "missing", "unknown"]
    why: str
    checked_at: str


class ScopeTestOut(WireModel):
    checked_at: str
    credentials_valid: bool
    scopes: dict[str, ScopeCheckOut]
    missing: list[str]
    unknown: list[str]
    unavailable: list[str]


class ScopeTestResponse(WireModel):
    status: Literal["success"] = "success"
    data: ScopeTestOut


class ModelCheckOut(WireModel):
    name: str
    status: Literal["PASSED", "FAILED", "SKIPPED"]
    message: str
    details: dict[str, Any]


class ModelTestOut(WireModel):
    status: Literal["PASSED", "FAILED", "SKIPPED"]
    message: str
    checks: list[ModelCheckOut]


class ModelTestsOut(WireModel):
    tested_at: str
    qa_status: Literal["PENDING", "FAILED", "PASSED"]
    sync_id: str | None
    models: dict[str, ModelTestOut]


class ModelTestsResponse(WireModel):
    status: Literal["success"] = "success"
    data: ModelTestsOut


@router.post(
    "/{integration_id}/scope-test",
    operation_id="PostIntegrationsIntegrationIdScopeTest",
    summary="Run the scope test",
    description="lmsbridge extension: probe, without side effects, every scope the connector "
    "uses and store granted / missing / unknown per scope. Missing scopes make the models and actions "
    "that need them unavailable (`GET /integrations/{id}`).",
    response_model=ScopeTestResponse,
)
async def post_scope_test(ctx: ContextDep, integration_id: str) -> Response:
    await detached_integration(ctx, integration_id)
    box = SecretBox.from_settings(ctx.settings)
    result = await scope_test_integration(ctx.engine, box, integration_id, settings=ctx.settings)
    return json_response(ScopeTestResponse(data=ScopeTestOut.model_validate(result.to_json())))


@router.post(
    "/{integration_id}/model-tests",
    operation_id="PostIntegrationsIntegrationIdModelTests",
    summary="Run the per-model tests",
    description="lmsbridge extension: test every model (readable, counts, required-field coverage, "
    "references, freshness), store PASSED / FAILED / SKIPPED per model and set the QA status.",
    response_model=ModelTestsResponse,
)
async def post_model_tests(ctx: ContextDep, integration_id: str) -> Response:
    integration = await detached_integration(ctx, integration_id)
    box = SecretBox.from_settings(ctx.settings)
    async with open_connector(box, integration, ctx.settings) as connector:
        result = await run_model_tests(ctx.engine, integration_id, connector, utcnow(), settings=ctx.settings)
    return json_response(ModelTestsResponse(data=ModelTestsOut.model_validate(result.to_json())))


# ---- GET /integrations/{id}: Kombo's details plus our per-model tests (extension fields) ------------


class ModelTestSummary(WireModel):
    status: Literal["PASSED", "FAILED", "SKIPPED"]
    message: str
    tested_at: str


class ReadModelWithTest(wire.ReadModel):
    """Kombo's read model plus ``model_test`` (lmsbridge extension: the last per-model test)."""

    model_test: ModelTestSummary | None


class LastSync(WireModel):
    id: str
    type: str
    state: str
    started_at: wire.Timestamp | None
    ended_at: wire.Timestamp | None
    api_calls: int
    error: str | None


class RealtimeStatus(WireModel):
    """Whether changes in the LMS arrive by webhook within seconds, or with syncs only (and why)."""

    state: Literal["ACTIVE", "NO_PUBLIC_URL", "MISSING_SCOPES"]
    detail: str


class IntegrationDetailsWithTests(wire.IntegrationDetails):
    """Kombo's integration details plus ``qa_status``, ``scope_test``, ``last_sync`` and ``realtime``
    (lmsbridge extensions; Kombo's schema allows additional properties, so Kombo clients are
    unaffected)."""

    read_models: list[ReadModelWithTest]  # type: ignore[assignment]
    qa_status: Literal["PENDING", "FAILED", "PASSED"]
    scope_test: ScopeTestOut | None
    last_sync: LastSync | None
    # null until the first sync looked at the integration's webhook subscriptions
    realtime: RealtimeStatus | None = None


class GetIntegrationWithTestsResponse(WireModel):
    status: Literal["success"] = "success"
    data: IntegrationDetailsWithTests


def _model_test(stored: dict[str, Any] | None, model_id: str) -> ModelTestSummary | None:
    stored = stored or {}
    tested = (stored.get("models") or {}).get(model_id)
    if not isinstance(tested, dict):
        return None
    return ModelTestSummary(
        status=tested["status"],
        message=str(tested.get("message", "")),
        tested_at=str(stored.get("tested_at")),
    )


def _scope_test(stored: dict[str, Any] | None) -> ScopeTestOut | None:
    try:
        return ScopeTestOut.model_validate(stored) if stored else None
    except ValidationError:  # written by something other than the scope test (older shape)
        return None


def integration_details_with_tests(
    integration: Integration, last_run: SyncRun | None = None
) -> GetIntegrationWithTestsResponse:
    """``GET /integrations/{id}``: availability from the scope test, each model's last test, QA status."""
    base = serialize.integration_details(integration)
    fields: dict[str, Any] = {name: getattr(base, name) for name in wire.IntegrationDetails.model_fields}
    fields["read_models"] = [
        ReadModelWithTest(
            **{name: getattr(m, name) for name in wire.ReadModel.model_fields},
            model_test=_model_test(integration.model_tests, m.id),
        )
        for m in base.read_models
    ]
    fields["qa_status"] = integration.qa_status
    fields["last_sync"] = (
        LastSync(
            id=last_run.id,
            type=last_run.type,
            state=last_run.state,
            started_at=last_run.started_at,
            ended_at=last_run.ended_at,
            api_calls=last_run.api_calls,
            error=last_run.error,
        )
        if last_run is not None
        else None
    )
    fields["scope_test"] = (
        ScopeTestOut.model_validate(integration.scope_test) if integration.scope_test else None
    )
    realtime = subscriptions.status_of(integration)
    fields["realtime"] = RealtimeStatus.model_validate(realtime) if realtime else None
    return GetIntegrationWithTestsResponse(data=IntegrationDetailsWithTests(**fields))
