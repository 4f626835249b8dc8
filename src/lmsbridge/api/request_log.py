"""One log line and one latency observation per API request (replaces uvicorn's access log).

Every request gets an id, answered in ``X-Request-Id``; when the request fails, its error envelope's
``log_url`` names the same id (``api/error_handlers.py``), so a log line and an interaction log meet.
"""

from __future__ import annotations

import logging
import time

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsbridge import metrics
from lmsbridge.api.guard import INCOMING_PREFIX
from lmsbridge.ids import random_id
from lmsbridge.logs import Redacted
from lmsbridge.redaction import redact_query

REQUEST_ID_KEY = "lmsbridge.request_id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# a request no route matched: one label value, whatever the path (404 scans must not grow the metrics)
UNMATCHED = "<unmatched>"

log = structlog.stdlib.get_logger("lmsbridge.api.requests")


def request_id(scope: Scope) -> str | None:
    value = scope.get(REQUEST_ID_KEY)
    return value if isinstance(value, str) else None


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/lms/users/{id}``), never the raw path."""
    # FastAPI includes routers without copying their routes: ``scope["route"]`` is the route as its own
    # router declared it (no /v1 prefix); the full template is in FastAPI's routing context
    context = scope.get("fastapi")
    if isinstance(context, dict):
        full = getattr(context.get("effective_route_context"), "path_format", None)
        if isinstance(full, str) and full:
            return full
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, metrics_enabled: bool = True) -> None:
        self.app = app
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = random_id()
        scope[REQUEST_ID_KEY] = rid
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append("X-Request-Id", rid)
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            if self.metrics_enabled:
                metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).observe(seconds)
            if log.isEnabledFor(logging.INFO):  # a disabled line costs nothing more
                query = scope.get("query_string", b"")
                log.info(
                    "http.request",
                    request_id=rid,
                    method=method,
                    route=route,
                    # an incoming-webhook path holds its endpoint's secret token: the template only
                    path=route if route.startswith(INCOMING_PREFIX) else scope.get("path"),
                    query=Redacted(redact_query(query.decode("latin-1"))) if query else None,
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
