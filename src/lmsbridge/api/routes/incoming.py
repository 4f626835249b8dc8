"""``POST /v1/incoming/{token}``: where the connected LMS delivers its webhooks (one unguessable address
per integration; no API key: the Standard Webhooks signature is the authentication). The event is
stored and a job applies it; the answer does not wait for that."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from lmsbridge.api.deps import ContextDep, wake_background
from lmsbridge.crypto import SecretBox
from lmsbridge.incoming.receive import Refused, receive
from lmsbridge.store.engine import session_scope

router = APIRouter()


@router.post("/incoming/{token}", include_in_schema=False)
async def incoming_webhook(token: str, request: Request, ctx: ContextDep) -> Response:
    body = await request.body()
    box = SecretBox.from_settings(ctx.settings)

    def store() -> None:
        with session_scope(ctx.engine) as session:
            receive(session, box, token, body, request.headers, datetime.now(UTC))

    try:
        await run_in_threadpool(store)
    except Refused as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    wake_background(request)  # the apply job starts now in this process, or at a worker's next poll
    return Response(status_code=204)
