"""Request dependencies: the app context, DB sessions, the current API key and integration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lmsbridge.api.cursors import CursorCodec
from lmsbridge.api.errors import ApiError
from lmsbridge.api.key_cache import VerifiedKeys
from lmsbridge.api.params import reject_nul
from lmsbridge.api.read_pool import ReadPool
from lmsbridge.connectors.registry import EXAMPLE_INTEGRATION_ID
from lmsbridge.settings import Settings
from lmsbridge.store import api_keys
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import ApiKey, Integration
from lmsbridge.store.transact import transact_async


@dataclass(frozen=True)
class AppContext:
    """What every request needs; built once by ``create_app`` and kept on ``app.state.ctx``."""

    settings: Settings
    engine: Engine
    # the list endpoints' reads (store.engine.mapped_read_engine)
    read_engine: Engine
    cursors: CursorCodec
    verified_keys: VerifiedKeys
    reads: ReadPool

    def log_url(self, log_id: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/v1/logs/{log_id}"


async def get_context(request: Request) -> AppContext:
    # async: FastAPI would run a plain ``def`` dependency in a worker thread, one hop per request
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def read_session(ctx: ContextDep) -> Iterator[Session]:
    # deferred BEGIN on SQLite: reads never queue behind a sync's write lock
    with session_scope(ctx.engine, readonly=True) as session:
        yield session


def write_session(ctx: ContextDep) -> Iterator[Session]:
    with session_scope(ctx.engine) as session:
        yield session


# scope="function": the transaction ends (commits) when the route returns, BEFORE the response is sent;
# with the default ("request") a client could see 200 and read the old state before the commit.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]

# Declares Kombo's security scheme ("ApiKey", HTTP bearer) in the OpenAPI; we raise our own error.
bearer = HTTPBearer(scheme_name="ApiKey", auto_error=False, description="`Authorization: Bearer <API key>`")


async def verify_api_key(ctx: AppContext, plaintext: str | None) -> ApiKey:
    """The active key ``plaintext`` names; ``PLATFORM.AUTHENTICATION_INVALID`` when missing or unknown."""
    if not plaintext:
        raise ApiError(
            "PLATFORM.AUTHENTICATION_INVALID", "Send your API key as `Authorization: Bearer <key>`."
        )
    key = ctx.verified_keys.get(plaintext)
    if key is None:
        # read-only lookup; only a due last_used_at refresh (once a minute per key) takes a write transaction
        key = await run_in_threadpool(api_keys.authenticate, ctx.engine, plaintext)
        if key is None:
            raise ApiError("PLATFORM.AUTHENTICATION_INVALID", "The API key is invalid or has been revoked.")
        ctx.verified_keys.put(plaintext, key)
    return key


# where api.guard.RequestGuard leaves the key it verified before the body was read
VERIFIED_KEY_SCOPE = "lmsbridge.api_key"


async def current_api_key(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    verified = request.scope.get(VERIFIED_KEY_SCOPE)
    if isinstance(verified, ApiKey):
        return verified
    return await verify_api_key(ctx, credentials.credentials if credentials is not None else None)


CurrentKey = Annotated[ApiKey, Depends(current_api_key)]


def load_integration(session: Session, integration_id: str) -> Integration:
    reject_nul("integration id", integration_id)
    integration = get_integration(session, integration_id) if integration_id else None
    if integration is None:
        raise ApiError("PLATFORM.INTEGRATION_NOT_FOUND", f"No integration with id {integration_id!r} exists.")
    return integration


async def detached_integration(ctx: AppContext, integration_id: str) -> Integration:
    """The integration, loaded in its own short transaction and detached from it: for routes that then
    wait on the LMS, which must not hold a pooled connection meanwhile."""

    def load(session: Session) -> Integration:
        integration = load_integration(session, integration_id)
        session.expunge(integration)
        return integration

    return await transact_async(ctx.engine, load)


async def header_integration_id(
    x_integration_id: Annotated[
        str,
        Header(
            alias="X-Integration-Id",
            description="ID of the integration you want to interact with.",
            examples=[EXAMPLE_INTEGRATION_ID],
        ),
    ],
) -> str:
    """The header's integration id, not yet looked up: routes that run their work in one thread hop
    (``ReadPool``) load it there with ``readable_integration``."""
    return x_integration_id.strip()


HeaderIntegrationId = Annotated[str, Depends(header_integration_id)]


def readable_integration(session: Session, integration_id: str) -> Integration:
    integration = load_integration(session, integration_id)
    require_readable(integration)
    return integration


def path_integration(session: ReadSession, integration_id: str) -> Integration:
    return load_integration(session, integration_id)


def path_integration_for_update(session: WriteSession, integration_id: str) -> Integration:
    return load_integration(session, integration_id)


def require_readable(integration: Integration) -> None:
    """Kombo serves an integration's data only once it is enabled and set up (the first FULL sync done
    and past quality assurance)."""
    if not integration.enabled:
        raise ApiError("INTEGRATION.INACTIVE", "The integration is disabled; enable it to read its data.")
    if integration.setup_status == "INCOMPLETE":
        raise ApiError("INTEGRATION.SETUP_INCOMPLETE", "The integration's setup has not been completed.")
    if integration.setup_status == "COMPLETED":
        # quality assurance gates the setup only: a later failed check is reported (qa_status, the
        # integration-state-changed webhook), while the data stays served
        return
    if integration.qa_status == "FAILED":
        raise ApiError(
            "INTEGRATION.QA_FAILED",
            "The first full sync failed its quality checks (see GET /v1/integrations/{id}); data is "
            "served once a full sync passes them.",
        )
    raise ApiError(
        "INTEGRATION.SETUP_SYNC_PENDING",
        "The integration's first full sync has not finished yet; data is served once it has.",
    )


PathIntegration = Annotated[Integration, Depends(path_integration)]
# loaded in the request's write session, so the route changes it in the same transaction
PathIntegrationForUpdate = Annotated[Integration, Depends(path_integration_for_update)]


def wake_background(request: Request) -> None:
    """Work was just stored (a sync run, an action task): a job dispatcher in this process looks now;
    elsewhere the working processes find it at their next poll."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        runtime.wake()
