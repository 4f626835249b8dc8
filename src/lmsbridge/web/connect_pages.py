"""The hosted Connect page a create-link or relink link opens: the end customer says where the account is
hosted (one of the connector's ``host_choices``, or its base URL), enters the credentials the connector
declares (``credential_fields``), sees what the credential allows (the scope test) and confirms; the
integration is then created exactly as ``POST /v1/integrations`` creates it (``lmsbridge.connect``), or
relinked.

Secrets go from the form to an encrypted column of the link (between the check and the confirm) and on
to the integration's encrypted credentials; no page, log or plain column ever holds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
from lmsbridge.connectors.base import Connector
from lmsbridge.connectors.registry import CONNECTORS, tool_coverage
from lmsbridge.crypto import SecretBox
from lmsbridge.store import connect_links
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ConnectLink, Integration
from lmsbridge.web.common import form_of, message_page, render, security
from lmsbridge.web.scopes import scope_view
from lmsbridge.web.security import CSRF_FIELD, CsrfRejected

router = APIRouter(prefix="/connect", include_in_schema=False)

_UNUSABLE = {
    "unknown": ("This link is not valid", "Check that you opened the whole link you were sent.", 404),
    "expired": ("This link has expired", "Ask the application that sent it for a new link.", 410),
    "used": (
        "This link has already been used",
        "Each link connects once. Ask for a new link to connect again or to change the credentials.",
        410,
    ),
}


@dataclass(frozen=True)
class Entered:
    """What the form shows again on a retry: never a secret."""

    region: str = ""  # one of the connector's host choices
    host_url: str = ""  # the typed base URL, for a connector without host choices
    plain: dict[str, str] = field(default_factory=dict)  # non-secret credentials by name


def _tool(link: ConnectLink) -> str:
    return link.tool or sorted(CONNECTORS)[0]


def _connector(link: ConnectLink) -> type[Connector] | None:
    # None: the link names a tool this server no longer has (its links can do nothing)
    return CONNECTORS.get(_tool(link))


def _either(words: list[str], last: str) -> str:
    """Words as a sentence lists them: ``EU``, ``EU or US``, ``EU, US or APAC`` (``last``: "or")."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


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
    cls = CONNECTORS.get(tool)
    return render(
        request,
        template,
        {
            "token": token,
            "link_csrf": security(request).link_csrf(link.id),
            "tool_label": tool_coverage(tool).label,
            "organization": (link.end_user or {}).get("organization_name") or "",
            "relink": link.relink,
            "fields": cls.credential_fields if cls is not None else (),
            "host_choices": cls.host_choices if cls is not None else (),
            **context,
        },
        status=status,
        frameable=True,
    )


def _form(
    request: Request,
    link: ConnectLink,
    token: str,
    entered: Entered,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return _page(
        request,
        link,
        token,
        "connect_form.html",
        status,
        region=entered.region,
        host_url=entered.host_url,
        values=entered.plain,
        error=error,
    )


def _first_entry(cls: type[Connector]) -> Entered:
    # the first named host is picked in advance, as the CLI and the API default to it
    return Entered(region=cls.default_host() or "")


def _check_csrf(request: Request, link: ConnectLink, fields: dict[str, str]) -> None:
    lifetime = int((link.expires_at - link.created_at).total_seconds())
    security(request).check_link_csrf(link.id, fields.get(CSRF_FIELD), max_age=lifetime)


def _where(cls: type[Connector], entered: Entered) -> str:
    """Where the account was looked for, as a sentence goes on: "in the EU region", "at https://…"."""
    if cls.host_choices:
        return f"in the {dict(cls.host_choices).get(entered.region, entered.region)} region"
    return f"at {entered.host_url}"


def _failure_message(cls: type[Connector], entered: Entered, exc: ConnectError) -> str:
    label = cls.coverage.label
    host_part = "the region" if cls.host_choices else "the address"
    if exc.code == "INTEGRATION.AUTHENTICATION_INVALID":
        named = ", ".join(f.label for f in cls.credential_fields)
        return f"{label} refused these credentials ({named}). Check them and {host_part}, then try again."
    if exc.code == "REMOTE.SERVICE_UNAVAILABLE":
        how = "you picked" if cls.host_choices else "you entered"
        return (
            f"{label} could not be reached {_where(cls, entered)}. Check {host_part} {how}, "
            "or try again in a moment."
        )
    return exc.message


@router.get("")
def connect_page(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = _load(ctx.engine, token)
    if found.state != "usable" or found.link is None:
        return _unusable(request, found.state)
    cls = _connector(found.link)
    if cls is None:
        return _unusable(request, "unknown")
    return _form(request, found.link, token, _first_entry(cls))


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
    cls = _connector(link)
    if cls is None:
        return _unusable(request, "unknown")
    fields = await form_of(request)
    _check_csrf(request, link, fields)
    # plain values are trimmed (pasted with a space); a secret is taken exactly as typed
    credentials = {
        f.name: fields.get(f.name, "") if f.secret else fields.get(f.name, "").strip()
        for f in cls.credential_fields
    }
    entered = Entered(
        region=fields.get("region", "") if cls.host_choices else "",
        host_url="" if cls.host_choices else fields.get("host", "").strip(),
        plain={f.name: credentials[f.name] for f in cls.credential_fields if not f.secret},
    )

    def again(message: str, status: int) -> Response:
        return _form(request, link, token, entered, status, message)

    if cls.host_choices and entered.region not in dict(cls.host_choices):
        named = _either([label for _, label in cls.host_choices], "or")
        return again(f"Pick where your account is hosted ({named}).", 400)
    if not cls.host_choices and not entered.host_url:
        return again(f"Enter the address of your {cls.coverage.label} account.", 400)
    if missing := [f.label for f in cls.credential_fields if not credentials[f.name]]:
        return again(f"Enter the {_either(missing, 'and')}.", 400)
    if cls.host_choices:
        host = ctx.settings.connect_region_urls.get(entered.region, entered.region)
    else:
        host = entered.host_url
    tool = _tool(link)
    try:
        probed = await probe_connection(ctx.settings, tool=tool, host=host, credentials=credentials)
    except ConnectError as exc:
        status = 502 if exc.code == "REMOTE.SERVICE_UNAVAILABLE" else 400
        return again(_failure_message(cls, entered, exc), status)
    box = SecretBox.from_settings(ctx.settings)
    pending = box.encrypt(json.dumps({"region": entered.region, "host": host, "credentials": credentials}))
    scope_json = probed.scope_test.to_json()
    await run_in_threadpool(_save_pending, ctx.engine, link.id, pending, scope_json)
    return _page(
        request,
        link,
        token,
        "connect_review.html",
        shown=[(f.label, credentials[f.name]) for f in cls.credential_fields if not f.secret],
        where=_where(cls, entered),
        view=scope_view(tool, scope_json),
    )


@router.post("/confirm")
async def confirm(request: Request, ctx: ContextDep, token: str = "") -> Response:
    found = await run_in_threadpool(_load, ctx.engine, token)
    if found.state != "usable" or found.link is None:
        return _unusable(request, found.state)
    link = found.link
    cls = _connector(link)
    if cls is None:
        return _unusable(request, "unknown")
    fields = await form_of(request)
    _check_csrf(request, link, fields)
    if link.pending_encrypted is None:
        return _form(request, link, token, _first_entry(cls), 400, "Enter your credentials first.")
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
        region = str(pending.get("region") or "")
        entered = Entered(
            region=region,
            host_url="" if region else str(pending.get("host") or ""),
            plain={
                f.name: str(pending["credentials"].get(f.name, ""))
                for f in cls.credential_fields
                if not f.secret
            },
        )
        return _form(request, link, token, entered, status, _failure_message(cls, entered, exc))
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
