"""``/docs`` (Swagger UI) and ``/redoc`` with every asset served by lmsbridge itself: the pages work on a
machine without internet access. The assets are the ones the pinned ``fastapi-offline`` package ships."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# The pages may load only from lmsbridge: Redoc's bundle would otherwise fetch its vendor's logo from a
# CDN. Inline scripts and styles are the pages' own set-up; Redoc's search runs in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:"
)


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def _assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


# Redoc's bundle shows its vendor's logo from a CDN in the menu; an empty data: URL makes the image fail
# at once, and Redoc then leaves it out (its onError handler)
_REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def _redoc_bundle() -> bytes:
    bundle = (_assets_dir() / "redoc.standalone.js").read_text(encoding="utf-8")
    return bundle.replace(_REDOC_REMOTE_LOGO, "data:,").encode()


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve the pages and their assets; the app must be built with ``docs_url=None, redoc_url=None``."""

    @app.get(f"{STATIC_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            _redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount(STATIC_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return _local_only(
            get_swagger_ui_html(
                openapi_url=base + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=base + OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{base}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{base}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{base}{STATIC_URL}/favicon.png",
                # no online validator badge: it would send the document's URL to swagger.io
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return _local_only(
            get_redoc_html(
                openapi_url=base + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{base}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{base}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
