"""Endpoints for operators, outside ``/v1`` and unauthenticated unless configured: ``/healthz`` (the
process answers), ``/readyz`` (named readiness checks, 503 naming the failing ones) and ``/metrics``."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from functools import lru_cache

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from lmsbridge import metrics
from lmsbridge.api.errors import ApiError
from lmsbridge.settings import Settings
from lmsbridge.store.migrate import current_revision, head_revision

log = structlog.stdlib.get_logger("lmsbridge.api.operations")

# A check answers None when fine, else a short reason safe to show anyone (no URLs, hosts or data).
ReadinessCheck = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_S = 5.0


class Readiness:
    """The named checks of ``/readyz``; other parts of the process add theirs (e.g. the job backend)
    through ``app.state.readiness.add(name, check)``."""

    def __init__(self) -> None:
        self.checks: dict[str, ReadinessCheck] = {}

    def add(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def run(self) -> dict[str, str | None]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._one(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _one(self, name: str) -> str | None:
        try:
            return await asyncio.wait_for(self.checks[name](), CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_S:.0f} s"
        except Exception:
            # the details (driver messages name hosts and users) go to the process log only
            log.warning("readiness check failed", check=name, exc_info=True)
            return "failed"


@lru_cache(maxsize=1)
def _head() -> str | None:
    return head_revision()


def database_check(engine: Engine) -> ReadinessCheck:
    def probe() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def check() -> str | None:
        try:
            await run_in_threadpool(probe)
        except Exception:
            log.warning("readiness: database not reachable", exc_info=True)
            return "not reachable"
        return None

    return check


def migrations_check(engine: Engine) -> ReadinessCheck:
    async def check() -> str | None:
        try:
            current = await run_in_threadpool(current_revision, engine)
        except Exception:
            log.warning("readiness: database not reachable", exc_info=True)
            return "database not reachable"
        head = _head()
        return None if current == head else f"at revision {current or 'none'}, expected {head}"

    return check


def background_check(app: FastAPI) -> ReadinessCheck:
    """This process was started to run the background services: they must be running."""

    async def check() -> str | None:
        return None if getattr(app.state, "background_running", False) else "not running"

    return check


def install_operations(app: FastAPI, settings: Settings, engine: Engine, *, background: bool) -> None:
    readiness = Readiness()
    readiness.add("database", database_check(engine))
    readiness.add("migrations", migrations_check(engine))
    if background:
        readiness.add("background_services", background_check(app))
    app.state.readiness = readiness
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        results = await request.app.state.readiness.run()
        failing = sorted(name for name, reason in results.items() if reason is not None)
        body = {
            "status": "not_ready" if failing else "ready",
            "failing": failing,
            "checks": {name: reason or "ok" for name, reason in results.items()},
        }
        return JSONResponse(body, status_code=503 if failing else 200)

    if settings.metrics_enabled:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

        @router.get("/metrics")
        def metrics_endpoint(request: Request) -> Response:
            if token is not None:
                sent = request.headers.get("authorization", "")
                scheme, _, value = sent.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
                    raise ApiError(
                        "PLATFORM.AUTHENTICATION_INVALID",
                        "GET /metrics needs `Authorization: Bearer <LMSBRIDGE_METRICS_TOKEN>`.",
                    )
            return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    app.include_router(router)
