"""What every page shares: the templates, rendering with a CSRF token, form parsing, formatting."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from lmsbridge.web.security import WebSecurity

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Nothing but this site's own files; the dashboard is never framed (the Connect page may be embedded).
_CSP = "default-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "–"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "–"
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


templates.env.filters["when"] = when
templates.env.filters["pretty_json"] = pretty_json
templates.env.globals["duration"] = duration


def security(request: Request) -> WebSecurity:
    web: WebSecurity = request.app.state.web_security
    return web


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    frameable: bool = False,
) -> Response:
    """The page, with the CSRF token its forms carry (the cookie is (re)issued with it)."""
    web = security(request)
    token = web.csrf_from_cookie(request)
    fresh = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, template, {**(context or {}), "csrf_token": token}, status_code=status
    )
    if fresh:
        web.set_csrf_cookie(response, token)
    secure_headers(response, frameable=frameable)
    return response


def secure_headers(response: Response, *, frameable: bool = False) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    csp = _CSP if frameable else f"{_CSP}; frame-ancestors 'none'"
    response.headers["Content-Security-Policy"] = csp
    if not frameable:
        response.headers["X-Frame-Options"] = "DENY"


def message_page(
    request: Request, title: str, message: str, *, status: int, frameable: bool = False
) -> Response:
    return render(
        request, "message.html", {"title": title, "message": message}, status=status, frameable=frameable
    )


async def form_of(request: Request) -> dict[str, str]:
    """The submitted form's text fields (a field sent twice keeps its first value)."""
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in fields:
            fields[name] = value
    return fields


def html(text: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(text, status_code=status)
    secure_headers(response)
    return response
