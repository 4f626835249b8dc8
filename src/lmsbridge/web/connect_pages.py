"""The hosted Connect page a create-link or relink link opens: the end customer picks the region, enters
the client id and secret, sees what the credential allows (the scope test) and confirms; the integration
is then created exactly as ``POST /v1/integrations`` creates it (``lmsbridge.connect``), or relinked.

The secret goes from the form to an encrypted column of the link (between the check and the confirm)
and on to the integration's encrypted credentials; no page, log or plain column ever holds it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lmsbridge.api.deps import ContextDep, wake_background
from lmsbridge.connect import ConnectError, connect_integration, probe_connection, relink_integration
from lmsbridge.connectors.registry import CONNECTORS, tool_coverage
from lmsbridge.crypto import SecretBox
from lmsbridge.store import connect_links
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ConnectLink, Integration
from lmsbridge.web.common import form_of, message_page, render, security
from lmsbridge.web.scopes import scope_view
from lmsbridge.web.security import CSRF_FIELD, CsrfRejected

router = APIRouter(prefix="/connect", include_in_schema=False)

REGIONS = (("eu", "EU"), ("us", "US"))
_UNUSABLE = {
    "unknown": ("This link is not valid", "Check that you opened the whole link you were sent.", 404),
    "expired": ("This link has expired", "Ask the application that sent it for a new link.", 410),
    "used": (
        "This link has already been used",
        "Each link connects once. Ask for a new link to connect again or to change the credentials.",
        410,
    ),
}


def _tool(link: ConnectLink) -> str:
    return link.tool or sorted(CONNECTORS)[0]


def _load(engine: Engine, token: str) -> connect_links.FoundLink:
    with session_scope(engine, readonly=True) as session:
        found = connect_links.find_link(session, token, datetime.now(UTC))
        if found.link is not None:
            session.expunge(found.link)
        return found


def _unusable(request: Request, state: str) -> Response:
    title, message, status = _UNUSABLE[state]
    return message_page(request, title, message, status=status, frameable=True)


def _page(
    request: Request, link: ConnectLink, token: str, template: str, status: int = 200, **context: Any
) -> Response:
    tool = _tool(link)
    return render(
        request,
        template,
        {
            "token": token,
            "link_csrf": security(request).link_csrf(link.id),
            "tool_label": tool_coverage(tool).label,
            "organization": (link.end_user or {}).get("organization_name") or "",
            "relink": link.relink,
            "regions": REGIONS,
            **context,
        },
        status=status,
        frameable=True,
    )


def _check_csrf(request: Request, link: ConnectLink, fields: dict[str, str]) -> None:
    lifetime = int((link.expires_at - link.created_at).total_seconds())
    security(request).check_link_csrf(link.id, fields.get(CSRF_FIELD), max_age=lifetime)


def _failure_message(tool: str, region: str, exc: ConnectError) -> str:
    label = tool_coverage(tool).label
    if exc.code == "INTEGRATION.AUTHENTICATION_INVALID":
        return (
            f"{label} refused this client id and secret. Check both (they are shown when the API "
            f"credential is created in {label}) and the region, then try again."
        )
    if exc.code == "REMOTE.SERVICE_UNAVAILABLE":
        return (
            f"{label} could not be reached in the {region.upper()} region. Check the region you picked, "
            "or try again in a moment."
        )
    return exc.message


@router.get("")
def connect_page(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = _load(ctx.engine, token)
    if found.state != "usable" or found.link is None:
        return _unusable(request, found.state)
    return _page(request, found.link, token, "connect_form.html", region="eu", client_id="")


def _save_pending(
    engine: Engine, link_id: str, encrypted: str | None, scope_test: dict[str, Any] | None
) -> None:
    with session_scope(engine) as session:
        connect_links.save_pending(session, link_id, encrypted, scope_test)


# The async handlers below call the database off the event loop (run_in_threadpool): on SQLite a write
# may wait for a sync's transaction, and the loop must keep serving meanwhile.


@router.post("/check")
async def check_credentials(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = await run_in_threadpool(_load, ctx.engine, token)
    if found.state != "usable" or found.link is None:
        return _unusable(request, found.state)
    link = found.link
    fields = await form_of(request)
    _check_csrf(request, link, fields)
    region = fields.get("region", "")
    client_id = fields.get("client_id", "").strip()
    secret = fields.get("client_secret", "")

    def again(message: str, status: int) -> Response:
        # the client id is kept for the retry; the secret is never sent back
        return _page(
            request,
            link,
            token,
            "connect_form.html",
            status,
            region=region,
            client_id=client_id,
            error=message,
        )

    if region not in dict(REGIONS):
        return again("Pick the region your account lives in (EU or US).", 400)
    if not client_id or not secret:
        return again("Enter both the client id and the client secret.", 400)
    host = ctx.settings.connect_region_urls.get(region, region)
    tool = _tool(link)
    credentials = {"client_id": client_id, "client_secret": secret}
    try:
        probed = await probe_connection(ctx.settings, tool=tool, host=host, credentials=credentials)
    except ConnectError as exc:
        status = 502 if exc.code == "REMOTE.SERVICE_UNAVAILABLE" else 400
        return again(_failure_message(tool, region, exc), status)
    box = SecretBox.from_settings(ctx.settings)
    pending = box.encrypt(json.dumps({"region": region, "host": host, "credentials": credentials}))
    scope_json = probed.scope_test.to_json()
    await run_in_threadpool(_save_pending, ctx.engine, link.id, pending, scope_json)
    return _page(
        request,
        link,
        token,
        "connect_review.html",
        region=region,
        client_id=client_id,
        view=scope_view(tool, scope_json),
    )


@router.post("/confirm")
async def confirm(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = await run_in_threadpool(_load, ctx.engine, token)
    if found.state != "usable" or found.link is None:
        return _unusable(request, found.state)
    link = found.link
    fields = await form_of(request)
    _check_csrf(request, link, fields)
    if link.pending_encrypted is None:
        return _page(
            request,
            link,
            token,
            "connect_form.html",
            400,
            region="eu",
            client_id="",
            error="Enter your credentials first.",
        )
    box = SecretBox.from_settings(ctx.settings)
    pending = json.loads(box.decrypt(link.pending_encrypted))
    now = datetime.now(UTC)

    def use_link(session: Session, integration: Integration) -> None:
        if not connect_links.use_link(session, link.id, integration.id, now):
            raise ConnectError("PLATFORM.INPUT_INVALID", "This link has already been used.")

    tool = _tool(link)
    try:
        if link.relink and link.integration_id is not None:
            await relink_integration(
                ctx.engine,
                box,
                ctx.settings,
                link.integration_id,
                host=pending["host"],
                credentials=pending["credentials"],
                in_transaction=use_link,
            )
        else:
            await connect_integration(
                ctx.engine,
                box,
                ctx.settings,
                tool=tool,
                host=pending["host"],
                credentials=pending["credentials"],
                end_user=dict(link.end_user or {}),
                in_transaction=use_link,
            )
    except ConnectError as exc:
        await run_in_threadpool(_save_pending, ctx.engine, link.id, None, None)
        status = 502 if exc.code == "REMOTE.SERVICE_UNAVAILABLE" else 400
        return _page(
            request,
            link,
            token,
            "connect_form.html",
            status,
            region=pending.get("region", "eu"),
            client_id=pending["credentials"].get("client_id", ""),
            error=_failure_message(tool, pending.get("region", ""), exc),
        )
    wake_background(request)
    return RedirectResponse(f"/connect/done?{urlencode({'token': token})}", status_code=303)


@router.get("/done")
def done(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = _load(ctx.engine, token)
    if found.link is None:
        return _unusable(request, "unknown")
    if found.link.used_at is None:  # not connected yet: back to the form
        return RedirectResponse(f"/connect?{urlencode({'token': token})}", status_code=303)
    link = found.link
    return _page(request, link, token, "connect_done.html")


def csrf_refused(request: Request) -> Response:
    return message_page(
        request,
        "This form was refused",
        "It did not carry this site's security token (it was sent from elsewhere, or the page is too old). "
        "Reload the page and try again.",
        status=403,
        frameable=request.url.path.startswith("/connect"),
    )


__all__ = ["CsrfRejected", "csrf_refused", "router"]
