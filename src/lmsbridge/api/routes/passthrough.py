"""``POST /v1/passthrough/{tool}/{api}``: forward a request to the integration's own API (Kombo's shape)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request
from fastapi.responses import Response

from lmsbridge.api.deps import AppContext, ContextDep, current_api_key, detached_integration
from lmsbridge.api.error_handlers import connector_error_to_api
from lmsbridge.api.errors import ApiError, input_invalid
from lmsbridge.api.responses import json_response
from lmsbridge.connections import ConnectorCache
from lmsbridge.connectors.errors import (
    ConnectorError,
)
from lmsbridge.connectors.registry import EXAMPLE_INTEGRATION_ID, tool_coverage
from lmsbridge.crypto import SecretBox
from lmsbridge.features.passthrough import (
    PASSTHROUGH_APIS,
    PassthroughBody,
    PassthroughInputError,
    PassthroughResult,
    find_api,
    forward,
    prepare,
)
from lmsbridge.store.logs import write_log
from lmsbridge.store.transact import transact_async
from lmsbridge.unified.wire import WireModel

router = APIRouter(tags=["General"], dependencies=[Depends(current_api_key)])

# how much of a remote body the interaction log keeps
_LOGGED_BODY_CHARS = 2000


class PassthroughData(WireModel):
    url: str
    status: int
    headers: dict[str, str | list[str]]
    data: Any = None


class PassthroughWarning(WireModel):
    message: str


class PostPassthroughToolApiPositiveResponse(WireModel):
    status: Literal["success"] = "success"
    data: PassthroughData
    warnings: list[PassthroughWarning]


def connector_cache(request: Request) -> ConnectorCache:
    """The app's connector cache, made on first use (closed by the app's lifespan)."""
    cache: ConnectorCache | None = getattr(request.app.state, "connector_cache", None)
    if cache is None:
        ctx = request.app.state.ctx
        cache = ConnectorCache(SecretBox.from_settings(ctx.settings), ctx.settings)
        request.app.state.connector_cache = cache
    return cache


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > _LOGGED_BODY_CHARS:
        return text[:_LOGGED_BODY_CHARS] + "…"
    return value


@router.post(
    "/passthrough/{tool}/{api}",
    operation_id="PostPassthroughToolApi",
    summary="Send passthrough request",
    description="Send a request to the integration's native API with the integration's credentials.\n\n"
    "|Integration|`{tool}/{api}`|Description|\n|---|---|---|\n"
    + "".join(
        f"|{tool_coverage(api.tool).label}|`{api.tool}/{api.api}`|{api.label}. Authentication"
        + "".join(f" and the `{name}` header" for name in sorted(api.reserved_headers))
        + f" are handled by lmsbridge; the base URL is `{api.prefix}` on the integration's host.|\n"
        for api in PASSTHROUGH_APIS.values()
    )
    + "\n"
    "The remote answer (any HTTP status, JSON or not) is returned as `data`; a remote system that "
    "cannot be reached answers `REMOTE.SERVICE_UNAVAILABLE`.",
    response_model=PostPassthroughToolApiPositiveResponse,
)
async def send_passthrough(
    request: Request,
    ctx: ContextDep,
    tool: str,
    api: str,
    body: Annotated[PassthroughBody, Body()],
    x_integration_id: Annotated[
        str,
        Header(
            alias="X-Integration-Id",
            description="ID of the integration you want to interact with.",
            examples=[EXAMPLE_INTEGRATION_ID],
        ),
    ],
) -> Response:
    integration_id = x_integration_id.strip()
    integration = await detached_integration(ctx, integration_id)
    try:
        prepared = prepare(tool, api, body)
    except PassthroughInputError as exc:
        raise input_invalid(str(exc)) from exc
    if integration.tool != tool:
        raise input_invalid(
            f"Integration {integration.id!r} is a {integration.tool} integration, not {tool}."
        )
    if not integration.enabled:
        raise ApiError("INTEGRATION.INACTIVE", "The integration is disabled; enable it to call its API.")
    connector = await connector_cache(request).get(integration)
    started = time.monotonic()
    logged_request = {
        "method": prepared.method,
        "path": body.path,
        "headers": prepared.headers,
        "params": prepared.params,
        "data": _short(body.data),
    }
    try:
        result = await forward(connector, find_api(tool, api), prepared)
    except PassthroughInputError as exc:  # the assembled URL left the tenant (defence in depth)
        raise input_invalid(str(exc)) from exc
    except ConnectorError as exc:
        await _log(ctx, integration.id, prepared.method, prepared.path, logged_request, None, exc, started)
        raise connector_error_to_api(exc) from exc
    await _log(ctx, integration.id, prepared.method, result.url, logged_request, result, None, started)
    return json_response(
        PostPassthroughToolApiPositiveResponse(
            data=PassthroughData(
                url=result.url, status=result.status, headers=result.headers, data=result.data
            ),
            warnings=[PassthroughWarning(message=w) for w in result.warnings],
        )
    )


async def _log(
    ctx: AppContext,
    integration_id: str,
    method: str,
    url: str,
    logged_request: dict[str, Any],
    result: PassthroughResult | None,
    error: BaseException | None,
    started: float,
) -> None:
    """The interaction log of one passthrough call (``write_log`` redacts secrets)."""
    duration_ms = int((time.monotonic() - started) * 1000)
    response = (
        {"status": result.status, "headers": result.headers, "data": _short(result.data)}
        if result is not None
        else None
    )
    await transact_async(
        ctx.engine,
        lambda s: write_log(
            s,
            "passthrough",
            integration_id=integration_id,
            method=method,
            url=url,
            status_code=result.status if result is not None else None,
            request=logged_request,
            response=response,
            error=f"{type(error).__name__}: {error}" if error is not None else None,
            duration_ms=duration_ms,
        ),
    )


async def close_connector_cache(app: FastAPI) -> None:
    """Close the live connectors the passthrough opened (called when the app shuts down)."""
    cache: ConnectorCache | None = getattr(app.state, "connector_cache", None)
    if cache is not None:
        app.state.connector_cache = None
        await cache.aclose()
