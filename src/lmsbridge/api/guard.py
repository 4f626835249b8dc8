"""What every request passes before routing: the API key is checked first, then the body is read up to
the operation's size limit; nothing parses a body from an unauthenticated caller or a body too large.

A pure ASGI middleware inside the catch-all: a refusal is raised as ``ApiError`` and the catch-all
(``api.error_handlers``) answers it with Kombo's envelope, like any other failure. FastAPI
would otherwise parse the JSON body before any dependency runs: an invalid body answered 400 before
the key was looked at, and any size was read into memory.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsbridge.api.deps import VERIFIED_KEY_SCOPE, AppContext, verify_api_key
from lmsbridge.api.errors import ApiError
from lmsbridge.api.routes.logs import opened_in_browser
from lmsbridge.settings import Settings

# Paths under /v1 a caller may read without a key (docs/api.md "Authentication").
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
INCOMING_PREFIX = "/v1/incoming/"
# Operations whose body may exceed ``max_request_body_bytes`` (method, path): they take
# ``max_bulk_request_body_bytes``.
BULK_OPERATIONS = frozenset({("POST", "/v1/lms/courses/bulk")})
# An oversized body is read and discarded up to this many bytes so the client sees the 413 (a client
# still writing its body when the connection closes reports a broken pipe instead); beyond, we close.
_DRAIN_LIMIT = 64 * 2**20


def body_limit(settings: Settings, method: str, path: str) -> int:
    if (method, path.rstrip("/")) in BULK_OPERATIONS:
        return max(settings.max_bulk_request_body_bytes, settings.max_request_body_bytes)
    return settings.max_request_body_bytes


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        "PLATFORM.INPUT_INVALID",
        f"The request body is larger than this operation accepts ({limit} bytes).",
        status=413,
        title="The request body is too large.",
    )


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/v1/") or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if scope["method"] == "GET" and path.startswith("/v1/logs/") and opened_in_browser(request):
            await self.app(scope, receive, send)  # a log_url followed by a browser: sent to the dashboard
            return
        ctx: AppContext = scope["app"].state.ctx
        # the LMS's webhooks carry no API key: their route verifies the Standard Webhooks signature
        if not path.startswith(INCOMING_PREFIX):
            try:
                scope[VERIFIED_KEY_SCOPE] = await verify_api_key(ctx, _bearer_token(request))
            except ApiError:
                await _drain(receive)
                raise
        limit = body_limit(ctx.settings, scope["method"], path)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            body, complete = None, False
        else:
            body, complete = await _read_body(receive, limit)
        if body is None:
            if not complete:
                await _drain(receive)
            raise _too_large(limit)
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """(the whole body, or None once it grows past ``limit`` bytes; whether the body was read to its
    end: a further ``receive`` would then wait for the client to disconnect)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # the client went away; the route sees what came
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return (b"".join(chunks) if size <= limit else None), True
        if size > limit:
            return None, False


async def _drain(receive: Receive) -> None:
    """Read and discard what is left of a body not read to its end."""
    drained = 0
    while drained <= _DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect

    return replayed
