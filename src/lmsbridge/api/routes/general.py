"""``GET /v1/check-api-key``: whether the key is valid, and the environment it belongs to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from lmsbridge.api.deps import ContextDep, CurrentKey, ReadSession
from lmsbridge.api.responses import json_response
from lmsbridge.store.engine import session_scope
from lmsbridge.store.kv import ENVIRONMENT_ID, environment_id, get_value
from lmsbridge.unified import wire

router = APIRouter(tags=["General"])


@router.get(
    "/check-api-key",
    operation_id="GetCheckApiKey",
    summary="Check API key",
    description="Check whether your API key is working properly. Needs no integration.",
    response_model=wire.GetCheckApiKeyPositiveResponse,
)
def check_api_key(_key: CurrentKey, ctx: ContextDep, session: ReadSession) -> Response:
    env = get_value(session, ENVIRONMENT_ID)
    if env is None:  # first call of the installation: generate it (a write, once)
        with session_scope(ctx.engine) as write:
            env = environment_id(write)
    return json_response(
        wire.GetCheckApiKeyPositiveResponse(data=wire.CheckApiKey(environment_id=env, customer_id=env))
    )
