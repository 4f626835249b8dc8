"""Turns every failure into Kombo's error envelope, logged as an interaction whose URL is ``log_url``.

Covers our ``ApiError``, FastAPI's validation errors (bad parameters, malformed JSON), Starlette's
404/405 and any unexpected exception (a catch-all ASGI middleware: never a traceback on the wire).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsbridge.api.deps import AppContext
from lmsbridge.api.errors import (
    METHOD_NOT_ALLOWED_TITLE,
    NOT_FOUND_TITLE,
    ApiError,
    envelope,
    for_general_operation,
)
from lmsbridge.api.guard import INCOMING_PREFIX, RequestGuard
from lmsbridge.api.request_log import request_id
from lmsbridge.api.responses import json_response
from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    HostNotAllowed,
    InvalidCredentials,
    PermissionMissing,
    RemoteError,
    RetriesExhausted,
)
from lmsbridge.ids import random_id
from lmsbridge.redaction import redact_url
from lmsbridge.store.engine import StoreBusy, session_scope
from lmsbridge.store.logs import write_log
from lmsbridge.unified.wire import ErrorResponse

logger = logging.getLogger("lmsbridge.api")

# Request headers worth keeping in an error log; everything else (cookies, auth) stays out.
_LOGGED_HEADERS = ("content-type", "content-length", "user-agent", "x-integration-id", "authorization")
_MAX_ID = 64
# Requests from callers without a valid key, and requests no route takes, are not stored (a scanner
# would fill the store): they are counted, and a line is logged at most this often.
_REFUSED_LOG_INTERVAL_S = 60.0


class RefusedRequests:
    """Counts unauthenticated and unroutable requests; one sampled log line per interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._since_line = 0
        self._last_line = 0.0

    def note(self, status: int, method: str, path: str) -> None:
        with self._lock:
            self.total += 1
            self._since_line += 1
            now = time.monotonic()
            if self._last_line and now - self._last_line < _REFUSED_LOG_INTERVAL_S:
                return
            count, self._since_line, self._last_line = self._since_line, 0, now
        logger.warning(
            "%d unauthenticated or unroutable request(s) refused and not stored; latest: %d %s %s",
            count,
            status,
            method,
            # an incoming-webhook path holds its endpoint's secret token
            f"{INCOMING_PREFIX}{{token}}" if path.startswith(INCOMING_PREFIX) else redact_url(path)[:200],
        )


REFUSED = RefusedRequests()


def _request_record(request: Request, body: Any) -> dict[str, Any]:
    headers = {name: request.headers[name] for name in _LOGGED_HEADERS if name in request.headers}
    if "authorization" in headers:
        # never the key itself: only whether one was sent (the store redacts again, defence in depth)
        headers["authorization"] = "[REDACTED]"
    record: dict[str, Any] = {"headers": headers, "query": dict(request.query_params)}
    if body is not None:
        record["body"] = body
    return record


def _integration_id(request: Request) -> str | None:
    candidate = request.path_params.get("integration_id") or request.headers.get("x-integration-id")
    return candidate if isinstance(candidate, str) and 0 < len(candidate) <= _MAX_ID else None


def _write_log(
    ctx: AppContext, request: Request, status: int, body: ErrorResponse, log_id: str, extra: dict[str, Any]
) -> bool:
    try:
        with session_scope(ctx.engine) as session:
            write_log(
                session,
                kind="api",
                integration_id=_integration_id(request),
                method=request.method,
                url=str(request.url),
                status_code=status,
                response=body.model_dump(mode="json"),
                log_id=log_id,
                **extra,
            )
        return True
    except Exception:  # the error response must go out even when the log cannot be written
        logger.exception("could not write the interaction log of an API error")
        return False


async def error_response(
    request: Request,
    error: ApiError,
    *,
    body: Any = None,
    internal: str | None = None,
    routed: bool = True,
    stored: bool = True,
) -> Response:
    """The envelope for ``error``, after logging the interaction (its id becomes ``log_url``); a refused
    key or a request no route takes (``routed=False``) is only counted (``REFUSED``) and answers without
    ``log_url``; ``stored=False`` answers without writing (the store is busy)."""
    ctx: AppContext = request.app.state.ctx
    route = request.scope.get("route")
    if "General" in (getattr(route, "tags", None) or ()):
        error = for_general_operation(error)
    if not routed or error.code == "PLATFORM.AUTHENTICATION_INVALID":
        REFUSED.note(error.status, request.method, request.url.path)
        return json_response(envelope(error, None), error.status)
    if not stored:
        return json_response(envelope(error, None), error.status)
    started = request.scope.get("lmsbridge.started", time.monotonic())
    # the request's id (api/request_log.py): its log line and this interaction log share one id
    log_id = request_id(request.scope) or random_id()
    with_log = envelope(error, ctx.log_url(log_id))
    logged = await run_in_threadpool(
        _write_log,
        ctx,
        request,
        error.status,
        with_log,
        log_id,
        {
            "request": _request_record(request, body),
            "error": internal or error.message,
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
    )
    return json_response(with_log if logged else envelope(error, None), error.status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body" or len(err["loc"]) == 1)
        if err.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
        elif err.get("type") == "missing" and err.get("loc", ("",))[0] == "header":
            parts.append(f"missing header {err['loc'][-1]}")
        elif err.get("type") == "string_pattern_mismatch":
            parts.append(f"{loc}: {err.get('input')!r} does not have the expected format")
        else:
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is invalid."


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return await error_response(request, exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body = exc.body if isinstance(exc.body, dict | list | str | int | float | bool) else None
    return await error_response(
        request, ApiError("PLATFORM.INPUT_INVALID", _validation_message(exc)), body=body
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error = ApiError(
            None, f"No route {request.method} {request.url.path}.", status=404, title=NOT_FOUND_TITLE
        )
    elif exc.status_code == 405:
        error = ApiError(
            None,
            f"{request.method} is not allowed on {request.url.path}.",
            status=405,
            title=METHOD_NOT_ALLOWED_TITLE,
        )
    elif exc.status_code == 401:
        error = ApiError("PLATFORM.AUTHENTICATION_INVALID", str(exc.detail))
    elif exc.status_code >= 500:
        error = ApiError("PLATFORM.UNKNOWN_ERROR", "An unexpected error occurred.")
    else:
        error = ApiError("PLATFORM.INPUT_INVALID", str(exc.detail))
    # 404/405 come from Starlette's router (our routes raise ApiError): no operation took the request
    routed = exc.status_code not in (404, 405)
    response = await error_response(request, error, routed=routed)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some operation takes at this path. Starlette's own Allow names only the first
    route matching the path (``GET`` for a path that also takes ``DELETE`` in another route)."""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if table is None:
        table = []
        for template, operations in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), sorted(m.upper() for m in operations)))
        request.app.state.allowed_methods = table
    methods = {m for pattern, allowed in table if pattern.match(request.url.path) for m in allowed}
    return sorted(methods)


class CatchAllMiddleware:
    """Last line of defence: an exception no handler took becomes PLATFORM.UNKNOWN_ERROR (500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["lmsbridge.started"] = time.monotonic()
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except StoreBusy as exc:  # raised before routing (the API key check)
            if response_started:
                raise
            await (await _on_store_busy(Request(scope), exc))(scope, receive, send)
        except ApiError as exc:  # a refusal of the request guard, before routing
            if response_started:
                raise
            await (await error_response(Request(scope), exc))(scope, receive, send)
        except Exception as exc:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            request = Request(scope)
            error = ApiError(
                "PLATFORM.UNKNOWN_ERROR", "An unexpected error occurred; see the log for details."
            )
            # only the exception type goes into the interaction log: messages can carry connection
            # strings or payloads; the server log above has the full traceback for operators
            response = await error_response(request, error, internal=f"unhandled {type(exc).__name__}")
            await response(scope, receive, send)


def connector_error_to_api(exc: ConnectorError) -> ApiError:
    """A failure talking to the LMS that no route turned into a more specific error: the REMOTE.* or
    INTEGRATION.* code that fits, never PLATFORM.UNKNOWN_ERROR."""
    if isinstance(exc, PermissionMissing):
        return ApiError("INTEGRATION.PERMISSION_MISSING", str(exc))
    if isinstance(exc, InvalidCredentials | AuthenticationFailed):
        return ApiError(
            "INTEGRATION.AUTHENTICATION_INVALID", f"The LMS refused the integration's credentials: {exc}"
        )
    if isinstance(exc, RetriesExhausted):
        return ApiError("REMOTE.SERVICE_UNAVAILABLE", f"The LMS could not be reached: {exc}")
    if isinstance(exc, HostNotAllowed):
        return ApiError("REMOTE.SERVICE_UNAVAILABLE", f"The LMS may not be reached from lmsbridge: {exc}")
    if isinstance(exc, RemoteError) and 400 <= exc.status < 500:
        return ApiError("REMOTE.INPUT_INVALID", f"The LMS refused the request: {exc}")
    return ApiError("REMOTE.UNKNOWN_HTTP_ERROR", f"The LMS answered unexpectedly: {exc}")


async def _on_connector_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConnectorError)
    return await error_response(request, connector_error_to_api(exc))


# What a client should wait before retrying after the store was busy.
STORE_BUSY_RETRY_AFTER_S = 1


async def _on_store_busy(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreBusy)
    error = ApiError(
        "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",
        "The store is busy with other writes (the database is locked); retry this request shortly.",
        status=503,
        title="The store is busy.",
    )
    # not logged: writing the log would wait for the same lock
    response = await error_response(request, error, stored=False)
    response.headers["Retry-After"] = str(STORE_BUSY_RETRY_AFTER_S)
    return response


def install_error_handling(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(ConnectorError, _on_connector_error)
    app.add_exception_handler(StoreBusy, _on_store_busy)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_middleware(RequestGuard)  # inside the catch-all: key, then body size, before any parsing
    app.add_middleware(CatchAllMiddleware)
