"""The operator dashboard at ``/dashboard``: sign in with an API key; integrations with their syncs,
scope and model tests, action tasks; interaction logs; webhook endpoints and deliveries.

Every action calls what the matching API route calls (``api.routes``), so both change in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lmsbridge.api.deps import AppContext, ContextDep, wake_background
from lmsbridge.api.errors import ApiError
from lmsbridge.api.routes.connect import RelinkBody, create_relink
from lmsbridge.api.routes.integrations import change_enabled, remove_integration
from lmsbridge.api.routes.syncs import queue_sync
from lmsbridge.connectors.errors import ConnectorError
from lmsbridge.connectors.registry import tool_coverage
from lmsbridge.crypto import SecretBox
from lmsbridge.features.on_demand import check_integration
from lmsbridge.store import api_keys, sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.logs import get_log
from lmsbridge.store.schema import ActionTask, ApiKey, Integration, SyncRun
from lmsbridge.web.common import form_of, message_page, render, security
from lmsbridge.web.scopes import scope_view
from lmsbridge.web.security import CSRF_FIELD, SignInRequired
from lmsbridge.webhooks.deliveries import recent_deliveries, redeliver
from lmsbridge.webhooks.endpoints import list_endpoints

router = APIRouter(prefix="/dashboard", include_in_schema=False)

HOME = "/dashboard"


def _safe_next(value: str | None) -> str:
    # only a path of this site: never an absolute or scheme-relative URL (no open redirect)
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME


def _session_key(ctx: AppContext, key_id: str) -> ApiKey | None:
    with session_scope(ctx.engine, readonly=True) as session:
        key = api_keys.get_api_key(session, key_id)
        if key is None or key.revoked_at is not None:
            return None
        session.expunge(key)
        return key


async def signed_in(request: Request, ctx: ContextDep) -> ApiKey:
    """The API key of the browser's session; else the browser is sent to sign in (and back here)."""
    key_id = security(request).session_key_id(request)
    key = await run_in_threadpool(_session_key, ctx, key_id) if key_id else None
    if key is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return key


SignedIn = Annotated[ApiKey, Depends(signed_in)]


async def _checked_form(request: Request) -> dict[str, str]:
    fields = await form_of(request)
    security(request).check_csrf(request, fields.get(CSRF_FIELD))
    return fields


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _integration_path(integration_id: str, notice: str | None = None) -> str:
    path = f"{HOME}/integrations/{quote(integration_id, safe='')}"
    return f"{path}?{urlencode({'notice': notice})}" if notice else path


# --- sign-in ---------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = HOME) -> Response:
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
async def login(request: Request, ctx: ContextDep) -> Response:
    fields = await _checked_form(request)
    target = _safe_next(fields.get("next"))
    plaintext = fields.get("api_key", "").strip()
    key = await run_in_threadpool(api_keys.authenticate, ctx.engine, plaintext) if plaintext else None
    if key is None:
        return render(
            request,
            "login.html",
            {"next": target, "error": "That API key is not valid: it is unknown or has been revoked."},
            status=401,
        )
    response = _redirect(target)
    security(request).start_session(response, key.id)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _checked_form(request)
    response = _redirect(f"{HOME}/login")
    security(request).end_session(response)
    return response


# --- integrations ----------------------------------------------------------------------------------


def _integration_rows(session: Session) -> list[dict[str, Any]]:
    # each integration's newest run in the same statement: one index seek per integration, not a query
    newest = (
        select(SyncRun.id)
        .where(SyncRun.integration_id == Integration.id)
        .order_by(SyncRun.created_at.desc())
        .limit(1)
        .correlate(Integration)
        .scalar_subquery()
    )
    query = (
        select(Integration, SyncRun)
        .outerjoin(SyncRun, SyncRun.id == newest)
        .order_by(Integration.created_at, Integration.id)
    )
    return [
        {"integration": integration, "last": last, "label": tool_coverage(integration.tool).label}
        for integration, last in session.execute(query).all()
    ]


@router.get("")
def integrations_page(request: Request, ctx: ContextDep, key: SignedIn) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        rows = _integration_rows(session)
        return render(request, "integrations.html", {"rows": rows, "key": key})


def _load(session: Session, integration_id: str) -> Integration:
    integration = get_integration(session, integration_id)
    if integration is None:
        raise LookupError(integration_id)
    return integration


def _sync_context(session: Session, integration_id: str) -> dict[str, Any]:
    runs = list(sync_runs.list_runs(session, integration_id, limit=20))
    active = any(run.state in sync_runs.ACTIVE_STATES for run in runs)
    return {"runs": runs, "active": active, "integration_id": integration_id}


def _tasks(session: Session, integration_id: str) -> list[ActionTask]:
    query = (
        select(ActionTask)
        .where(ActionTask.integration_id == integration_id)
        .order_by(ActionTask.created_at.desc())
        .limit(20)
    )
    return list(session.scalars(query))


def _not_found(request: Request, what: str) -> Response:
    return message_page(request, "Not found", f"There is no {what}.", status=404)


@router.get("/integrations/{integration_id}")
def integration_page(
    request: Request, ctx: ContextDep, key: SignedIn, integration_id: str, notice: str | None = None
) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        try:
            integration = _load(session, integration_id)
        except LookupError:
            return _not_found(request, f"integration {integration_id!r}")
        context = {
            "key": key,
            "integration": integration,
            "label": tool_coverage(integration.tool).label,
            "view": scope_view(integration.tool, integration.scope_test),
            "model_tests": (integration.model_tests or {}).get("models") or {},
            "tasks": _tasks(session, integration.id),
            "notice": notice,
            **_sync_context(session, integration.id),
        }
        return render(request, "integration.html", context)


@router.get("/integrations/{integration_id}/syncs")
def syncs_fragment(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    """The sync history table alone: the page polls it while a sync is queued or running."""
    with session_scope(ctx.engine, readonly=True) as session:
        return render(request, "_syncs.html", _sync_context(session, integration_id))


async def _change(request: Request, ctx: AppContext, integration_id: str, work: Any) -> Response:
    """Run ``work(session, integration)`` in a write transaction; back to the integration's page."""
    await _checked_form(request)

    def run() -> str:
        with session_scope(ctx.engine) as session:
            integration = _load(session, integration_id)
            return str(work(session, integration))

    try:
        notice = await run_in_threadpool(run)
    except LookupError:
        return _not_found(request, f"integration {integration_id!r}")
    except ApiError as exc:
        notice = exc.message
    return _redirect(_integration_path(integration_id, notice))


@router.post("/integrations/{integration_id}/enabled")
async def set_enabled(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    fields = await form_of(request)
    value = fields.get("value") == "true"

    def work(session: Session, integration: Integration) -> str:
        change_enabled(session, integration, value)
        return "Enabled." if value else "Disabled: no syncs run and its data is not served."

    return await _change(request, ctx, integration_id, work)


@router.post("/integrations/{integration_id}/sync")
async def force_sync(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    fields = await form_of(request)
    sync_type = fields.get("type", "")
    if sync_type not in ("FULL", "DELTA"):
        return message_page(request, "Unknown sync type", "Choose FULL or DELTA.", status=400)

    def work(session: Session, integration: Integration) -> str:
        queued = queue_sync(request, session, integration, sync_type)
        if queued.already_queued:
            return f"A {queued.type} sync is already queued or running ({queued.sync_id})."
        return f"{queued.type} sync {queued.sync_id} queued."

    return await _change(request, ctx, integration_id, work)


@router.post("/integrations/{integration_id}/relink")
async def relink(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    fields = await _checked_form(request)
    link_type = "MAGIC_LINK" if fields.get("link_type") == "MAGIC_LINK" else "EMBEDDED"

    def run() -> str:
        with session_scope(ctx.engine) as session:
            return create_relink(session, ctx.settings, integration_id, RelinkBody(link_type=link_type))

    try:
        link = await run_in_threadpool(run)
    except ApiError:
        return _not_found(request, f"integration {integration_id!r}")
    return render(
        request,
        "relink.html",
        {"key": key, "integration_id": integration_id, "link": link, "link_type": link_type},
    )


@router.post("/integrations/{integration_id}/test")
async def run_tests(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    """The scope test (and the per-model tests) now, as ``lmsbridge integrations test`` runs them."""
    fields = await _checked_form(request)
    models = fields.get("models") == "true"
    try:
        scopes, tested = await check_integration(
            ctx.engine,
            SecretBox.from_settings(ctx.settings),
            integration_id,
            settings=ctx.settings,
            models=models,
        )
    except LookupError:
        return _not_found(request, f"integration {integration_id!r}")
    except ConnectorError as exc:
        return _redirect(_integration_path(integration_id, f"The tests could not run: {exc}"))
    notice = "Scope test done." if scopes.credentials_valid else "The credentials were refused."
    if tested is not None:
        notice += f" Model tests done: QA {tested.qa_status}."
    return _redirect(_integration_path(integration_id, notice))


@router.get("/integrations/{integration_id}/delete")
def delete_page(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        integration = get_integration(session, integration_id)
        if integration is None:
            return _not_found(request, f"integration {integration_id!r}")
        return render(request, "delete.html", {"key": key, "integration": integration})


@router.post("/integrations/{integration_id}/delete")
async def delete(request: Request, ctx: ContextDep, key: SignedIn, integration_id: str) -> Response:
    fields = await _checked_form(request)
    if fields.get("confirm") != integration_id:
        return message_page(
            request, "Not deleted", "Type the integration's id to confirm the deletion.", status=400
        )

    def run() -> bool:
        with session_scope(ctx.engine) as session:
            integration = get_integration(session, integration_id)
            if integration is None:
                return False
            remove_integration(session, integration)
            return True

    if not await run_in_threadpool(run):
        return _not_found(request, f"integration {integration_id!r}")
    return _redirect(HOME)


# --- logs ------------------------------------------------------------------------------------------


@router.get("/logs/{log_id}")
def log_page(request: Request, ctx: ContextDep, key: SignedIn, log_id: str) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        row = get_log(session, log_id) if "\x00" not in log_id else None
        if row is None:
            return _not_found(request, f"interaction log {log_id!r}")
        return render(request, "log.html", {"key": key, "log": row})


# --- webhooks --------------------------------------------------------------------------------------


@router.get("/webhooks")
def webhooks_page(request: Request, ctx: ContextDep, key: SignedIn, notice: str | None = None) -> Response:
    with session_scope(ctx.engine, readonly=True) as session:
        context = {
            "key": key,
            "endpoints": list_endpoints(session),
            "deliveries": recent_deliveries(session, limit=100),
            "notice": notice,
        }
        return render(request, "webhooks.html", context)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
async def redeliver_page(request: Request, ctx: ContextDep, key: SignedIn, delivery_id: str) -> Response:
    await _checked_form(request)

    def run() -> bool:
        with session_scope(ctx.engine) as session:
            return redeliver(session, delivery_id, datetime.now(UTC))

    if not await run_in_threadpool(run):
        return _not_found(request, f"webhook delivery {delivery_id!r}")
    wake_background(request)
    return _redirect(
        f"{HOME}/webhooks?{urlencode({'notice': f'Delivery {delivery_id} is being sent again.'})}"
    )
