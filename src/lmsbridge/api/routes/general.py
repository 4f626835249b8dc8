"""``GET /v1/check-api-key``: whether the key is valid, and the environment it belongs to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from lmsbridge.api.deps import CurrentKey, WriteSession
from lmsbridge.api.responses import json_response
from lmsbridge.store.kv import environment_id
from lmsbridge.unified import wire

router = APIRouter(tags=["General"])


@router.get(
    "/check-api-key",
    operation_id="GetCheckApiKey",
    summary="Check API key",
    description="Check whether your API key is working properly. Needs no integration.",
    response_model=wire.GetCheckApiKeyPositiveResponse,
)
def check_api_key(_key: CurrentKey, session: WriteSession) -> Response:
    # a write session: the environment id is generated on first use
    env = environment_id(session)
    return json_response(
        wire.GetCheckApiKeyPositiveResponse(data=wire.CheckApiKey(environment_id=env, customer_id=env))
    )
