"""Assemble the sandbox ASGI app: API v2 routes + control routes, wrapped by the traffic middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from lmsbridge.sandbox.learning360 import bulk, control, routes_read, routes_write, webhooks
from lmsbridge.sandbox.learning360.errors import json_response
from lmsbridge.sandbox.learning360.tenant import Tenant
from lmsbridge.sandbox.learning360.traffic import Traffic, TrafficMiddleware

# How long the server keeps an idle connection: like a cloud API behind a load balancer, and unlike
# uvicorn's 5 s (the very time httpx reuses an idle connection for), where a close racing a client's next
# request would fail that request.
KEEP_ALIVE_SECONDS = 75

# Background work (bulk operations, webhook deliveries) registers tick functions here.
Ticker = Callable[[], Any]
TICK_SECONDS = 0.05


def api_routes() -> list[BaseRoute]:
    return [*routes_read.ROUTES, *routes_write.ROUTES, *bulk.ROUTES, *webhooks.ROUTES]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: "routeNotFound", 405: "methodNotAllowed"}.get(status, "internalServerError")
    return json_response({"error": {"code": code, "message": f"{request.method} {request.url.path}"}}, status)


class SandboxApp(Starlette):
    """Starlette with the traffic middleware outermost, so it sees the server's raw `send`
    (needed to drop a connection)."""

    traffic_middleware: dict[str, Any]

    def build_middleware_stack(self) -> Any:
        return TrafficMiddleware(super().build_middleware_stack(), **self.traffic_middleware)


def build_app(tenant: Tenant) -> Starlette:
    """The ASGI app serving `tenant`. `app.state.tenant` / `app.state.traffic` give in-process access."""
    traffic = Traffic(tenant.seed)
    tickers: list[Ticker] = [tenant.tick]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                for tick in list(tickers):
                    result = tick()
                    if asyncio.iscoroutine(result):
                        await result
                await asyncio.sleep(TICK_SECONDS)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = api_routes() + control.ROUTES
    app = SandboxApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.traffic_middleware = {"tenant": tenant, "traffic": traffic, "router": Router(routes=routes)}
    app.state.tenant = tenant
    app.state.traffic = traffic
    app.state.tickers = tickers
    bulk.install(app)
    webhooks.install(app)
    return app
