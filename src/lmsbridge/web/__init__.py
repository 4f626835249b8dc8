"""The web pages: the operator dashboard (``/dashboard``) and Kombo Connect's hosted page (``/connect``),
server-rendered with Jinja2; every asset is served by lmsbridge itself (``/static``)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from lmsbridge.settings import Settings
from lmsbridge.web import connect_pages, dashboard
from lmsbridge.web.common import HERE
from lmsbridge.web.security import CsrfRejected, SignInRequired, WebSecurity, derive_web_key


def install_web(app: FastAPI, settings: Settings, installation_key: bytes) -> None:
    """Mount the pages, their static files and the handlers that turn a missing session into the
    sign-in page and a refused form into a clear page."""
    app.state.web_security = WebSecurity(
        key=derive_web_key(installation_key),
        session_seconds=int(settings.dashboard_session_hours * 3600),
        secure_cookies=settings.public_base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(dashboard.router)
    app.include_router(connect_pages.router)

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(f"/dashboard/login?{urlencode({'next': exc.next_path})}", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        return connect_pages.csrf_refused(request)

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(CsrfRejected, refused)
