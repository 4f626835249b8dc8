"""``/docs`` (Swagger UI) and ``/redoc`` in a real headless Chromium: the pages render lmsbridge's
operations with every asset served by lmsbridge itself; no request leaves loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Request

from browser import browser, screenshot_path  # noqa: F401  (the fixture)
from lmsbridge.api.app import create_app
from lmsbridge.settings import Settings
from lmsbridge.store.migrate import upgrade_database
from loopback import bound_socket, serve


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{tmp / 'store.db'}"
    upgrade_database(url)
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        encryption_key=Fernet.generate_key().decode(),
        public_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
    )
    with serve(create_app(settings), sock) as served:
        yield served


def _operation_ids(base_url: str) -> list[str]:
    document = httpx.get(f"{base_url}/v1/openapi.json").json()
    return [
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]


def _assert_loopback_only(requests: list[Request]) -> None:
    assert requests, "the page made no request at all"
    outside = [
        r.url
        for r in requests
        if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
        and urlsplit(r.url).hostname != "127.0.0.1"
    ]
    assert not outside, outside


def test_swagger_ui_renders_offline(browser: Browser, base_url: str) -> None:  # noqa: F811
    page = browser.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    try:
        page.goto(f"{base_url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        rendered = page.locator(".opblock").count()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(screenshot_path("docs-swagger-ui")), full_page=False)
    finally:
        page.close()
    assert rendered == len(_operation_ids(base_url)) > 10
    assert any("/v1/lms/users" in path for path in paths)
    _assert_loopback_only(requests)
    # the page's own scripts and styles came from us
    assets = {urlsplit(r.url).path for r in requests}
    assert {"/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css", "/v1/openapi.json"} <= assets


def test_redoc_renders_offline(browser: Browser, base_url: str) -> None:  # noqa: F811
    page = browser.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    try:
        page.goto(f"{base_url}/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=30_000)
        sections = page.locator("[data-section-id^='operation/']").count()
        page.screenshot(path=str(screenshot_path("docs-redoc")), full_page=False)
    finally:
        page.close()
    assert sections == len(_operation_ids(base_url))
    _assert_loopback_only(requests)
    assert "/static/docs/redoc.standalone.js" in {urlsplit(r.url).path for r in requests}
