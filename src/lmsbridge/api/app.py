"""The app factory: ``create_app(settings)`` builds the FastAPI app (``lmsbridge serve`` runs it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from lmsbridge import __version__
from lmsbridge.api.connection_recycling import RecycleConnections
from lmsbridge.api.cursors import CursorCodec, derive_cursor_key
from lmsbridge.api.deps import AppContext
from lmsbridge.api.docs import install_docs
from lmsbridge.api.error_handlers import install_error_handling
from lmsbridge.api.key_cache import VerifiedKeys
from lmsbridge.api.openapi import build_openapi
from lmsbridge.api.operations import install_operations
from lmsbridge.api.read_pool import ReadPool
from lmsbridge.api.request_log import RequestLogMiddleware
from lmsbridge.api.routes import (
    connect,
    features,
    general,
    incoming,
    integrations,
    lms,
    logs,
    passthrough,
    syncs,
)
from lmsbridge.api.routes.actions import close_action_services
from lmsbridge.api.routes.actions import router as actions_router
from lmsbridge.api.routes.passthrough import close_connector_cache
from lmsbridge.api.routes.webhooks import router as webhooks_router
from lmsbridge.crypto import load_or_create_key
from lmsbridge.jobs.system import job_backend
from lmsbridge.logs import BACKGROUND_SERVICES, database_backend, log_startup
from lmsbridge.observability import setup_process
from lmsbridge.runtime import Runtime, claim_background_services
from lmsbridge.settings import Settings
from lmsbridge.store.engine import make_engine, mapped_read_engine
from lmsbridge.web import install_web


def create_app(
    settings: Settings, *, engine: Engine | None = None, background: bool = False, work: bool = True
) -> FastAPI:
    """The API over the store at ``settings``' database (already migrated; ``serve`` migrates first).

    Pass ``engine`` to share one with the caller (then the caller disposes it). ``background=True``
    (what ``lmsbridge serve`` does) opens the job system for the app's lifetime (``lmsbridge.runtime``);
    with ``work=True`` this process also runs jobs: scheduled and forced syncs, action tasks, webhook
    deliveries.
    """
    owned = engine is None
    db = engine if engine is not None else make_engine(settings.resolved_database_url)
    reads = mapped_read_engine(db)
    installation_key = load_or_create_key(settings)
    ctx = AppContext(
        settings=settings,
        engine=db,
        read_engine=reads,
        cursors=CursorCodec(derive_cursor_key(installation_key)),
        verified_keys=VerifiedKeys(settings.api_key_cache_seconds),
        reads=ReadPool(settings.api_read_threads),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, db, work=work) if background else None
        if runtime is not None:
            _app.state.runtime = runtime
            await runtime.start()
            _app.state.background_running = True  # readiness: api/operations.py
            _app.state.readiness.add("job_backend", runtime.jobs.readiness_check)
        try:
            yield
        finally:
            if runtime is not None:
                _app.state.background_running = False
                await runtime.stop()
        await close_connector_cache(_app)  # features: passthrough's live connectors
        await close_action_services(_app)  # actions: their live connectors
        if reads is not db:
            reads.dispose()
        if owned:
            db.dispose()

    app = FastAPI(
        title="lmsbridge",
        version=__version__,
        openapi_url="/v1/openapi.json",
        docs_url=None,  # served with local assets: api/docs.py
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handling(app)
    if settings.api_workers > 1 and settings.api_requests_per_connection:
        app.add_middleware(RecycleConnections, requests_per_connection=settings.api_requests_per_connection)
    # outermost: its line and latency cover every answer, the catch-all's 500 included
    app.add_middleware(RequestLogMiddleware, metrics_enabled=settings.metrics_enabled)
    install_operations(app, settings, db, background=background)
    install_docs(app, "/v1/openapi.json")
    v1 = APIRouter(prefix="/v1")
    v1.include_router(lms.router)
    v1.include_router(actions_router)  # write actions
    v1.include_router(general.router)
    v1.include_router(integrations.router)
    v1.include_router(logs.router)
    v1.include_router(passthrough.router)
    v1.include_router(features.router)
    v1.include_router(webhooks_router)  # webhooks
    v1.include_router(syncs.router)
    v1.include_router(connect.router)  # Kombo Connect: create-link, integration-by-token, relink
    v1.include_router(incoming.router)  # the LMS's webhooks in (signed, no API key)
    app.include_router(v1)
    install_web(app, settings, installation_key)  # the dashboard and the hosted Connect page
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def create_worker_app() -> FastAPI:
    """The app of one of ``lmsbridge serve --workers N``'s processes (uvicorn's factory; settings come from
    the environment). On SQLite one of them works (the job store is in its memory) and the others only
    answer requests (what they store is dispatched by the working one within ``job_poll_seconds``); on
    PostgreSQL they work when ``LMSBRIDGE_SERVE_WORKS`` says so (``serve --work``).
    """
    settings = Settings()
    setup_process(settings)  # a fresh process: logs and metrics as the parent's
    work = serve_works(settings)
    log_startup(
        role="api",
        database_backend=database_backend(settings),
        job_backend=job_backend(settings),
        services=BACKGROUND_SERVICES if work else [],
        pid=os.getpid(),
    )
    return create_app(settings, background=True, work=work)


def serve_works(settings: Settings, requested: bool | None = None) -> bool:
    """Whether a ``serve`` process runs jobs. On SQLite: the one that holds the data dir's lock (the job
    store is in memory). On PostgreSQL only when asked (``serve --work``): workers do the work."""
    if settings.is_sqlite:
        return claim_background_services(settings)
    return bool(requested if requested is not None else settings.serve_works)
