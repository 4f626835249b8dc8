"""One real lmsbridge server per test module (SQLite, background services on) over a real sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet
from web_support import Site

from browser import browser  # the module-scoped Chromium of tests/browser.py, for the browser tests
from lmsbridge.api.app import create_app
from lmsbridge.sandbox.learning360.testing import running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database
from loopback import bound_socket, serve


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("site")
    url = f"sqlite:///{tmp / 'lmsbridge.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sock = bound_socket()
    nowhere = bound_socket()  # bound but never listening: connections to it are refused
    with session_scope(engine) as session:
        _, api_key = create_api_key(session, "web-tests")
    with running_sandbox(seed=7, users=30, courses=10, attempts=150, integrations=2) as sandbox:
        settings = Settings(
            data_dir=tmp / "data",
            database_url=url,
            encryption_key=Fernet.generate_key().decode(),
            public_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            connect_region_urls={
                "eu": sandbox.base_url,
                "us": f"http://127.0.0.1:{nowhere.getsockname()[1]}",
            },
            remote_interactive_retry_seconds=1.0,
        )
        try:
            with (
                serve(create_app(settings, engine=engine, background=True), sock) as base_url,
                httpx.Client(
                    base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
                ) as api,
            ):
                body = {
                    "tool": "360learning",
                    "host": sandbox.base_url,
                    "credentials": {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
                    "end_user": {"organization_name": "Globex", "creator_email": "ops@globex.example"},
                }
                reply = api.post("/v1/integrations", json=body)
                assert reply.status_code == 200, reply.text
                connected = reply.json()["data"]
                site = Site(base_url, settings, engine, api_key, api, sandbox, connected["id"])
                assert site.wait_sync_done(connected["id"], connected["sync_id"])["state"] == "SUCCEEDED"
                yield site
        finally:
            nowhere.close()
            engine.dispose()


__all__ = ["browser", "site"]
