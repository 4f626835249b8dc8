"""Webhook URLs and integration hosts on loopback, private, link-local (metadata) addresses are refused
unless the operator allows them; the refusal holds at connection time, and a receiver's answer is
kept only as a short excerpt."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ApiEnv, make_settings, new_api_key

from lmsbridge.api.app import create_app
from lmsbridge.connectors.errors import ConnectorError
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import ClientOptions, Learning360Config, RetryPolicy
from lmsbridge.crypto import SecretBox
from lmsbridge.netguard import BlockedHost, checked_addresses
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.logs import WEBHOOK_ANSWER_EXCERPT, write_log
from lmsbridge.store.migrate import upgrade_database
from loopback import bound_socket, serve


class Canary:
    """An "internal service" on loopback: records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                canary.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    c.thread.start()
    try:
        yield c
    finally:
        c.server.shutdown()
        c.server.server_close()


@pytest.fixture
def strict_api(tmp_path: Path) -> Iterator[ApiEnv]:
    """The API as an operator runs it by default: private hosts not allowed."""
    url = f"sqlite:///{tmp_path / 'lmsbridge.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sock = bound_socket()
    settings = make_settings(tmp_path, url, sock.getsockname()[1]).model_copy(
        update={"allow_private_hosts": False}
    )
    key = new_api_key(engine)
    try:
        with (
            serve(create_app(settings, engine=engine), sock) as base_url,
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
        ):
            assert settings.encryption_key is not None
            yield ApiEnv(base_url, settings, engine, SecretBox(settings.encryption_key.encode()), key, client)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("[::1]", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
    ],
)
def test_webhook_urls_on_internal_addresses_are_refused(strict_api: ApiEnv, host: str, kind: str) -> None:
    response = strict_api.client.post("/v1/webhooks", json={"url": f"http://{host}:8080/hook"})
    body = response.json()
    assert (response.status_code, body["error"]["code"]) == (400, "PLATFORM.INPUT_INVALID"), body
    assert kind in body["error"]["message"] and "LMSBRIDGE_ALLOW_PRIVATE_HOSTS" in body["error"]["message"]
    assert strict_api.client.get("/v1/webhooks").json()["data"]["results"] == []


def test_an_integration_host_on_loopback_gets_no_credentials(strict_api: ApiEnv, canary: Canary) -> None:
    body = {
        "tool": "360learning",
        "host": f"http://127.0.0.1:{canary.port}/internal",
        "credentials": {"client_id": "cid", "client_secret": "s3cr3t-never-sent"},
        "end_user": {"organization_name": "Acme"},
    }
    response = strict_api.client.post("/v1/integrations", json=body)
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "PLATFORM.INPUT_INVALID"), error
    assert error["message"].startswith("host: ") and "loopback" in error["message"]
    assert canary.hits == []  # nothing, the token request included, reached the internal service


def test_the_check_holds_at_connection_time(canary: Canary) -> None:
    """A client built with a host that resolves to loopback (as after a DNS change) never connects."""
    config = Learning360Config(
        client_id="cid", client_secret="s3cr3t", host=f"http://localhost:{canary.port}"
    )
    options = ClientOptions(allow_private_hosts=False, retry=RetryPolicy(max_attempts=1, max_seconds=1))

    async def fetch() -> None:
        async with Learning360Client(config, options=options) as client:
            await client.fetch_token()

    with pytest.raises(ConnectorError, match="loopback"):
        asyncio.run(fetch())
    assert canary.hits == []
    # allowed by the operator: the same client reaches it
    allowed = ClientOptions(allow_private_hosts=True, retry=RetryPolicy(max_attempts=1, max_seconds=1))

    async def fetch_allowed() -> None:
        async with Learning360Client(config, options=allowed) as client:
            await client.fetch_token()

    with pytest.raises(ConnectorError):  # the canary is no token endpoint, but it was reached
        asyncio.run(fetch_allowed())
    assert canary.hits


def test_resolution_checks_every_address() -> None:
    with pytest.raises(BlockedHost, match="loopback"):
        checked_addresses("localhost", 80, allow_private=False)
    assert checked_addresses("localhost", 80, allow_private=True)
    with pytest.raises(BlockedHost, match="cannot be resolved"):
        checked_addresses("no-such-host.invalid", 80, allow_private=False)


def test_a_receiver_answer_is_kept_as_a_short_excerpt(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    upgrade_database(engine)
    internal_page = "<html>internal admin page " + "x" * 5000
    with session_scope(engine) as session:
        entry = write_log(session, "webhook", response={"state": "FAILED", "body": internal_page})
        assert entry.response is not None
        assert entry.response["body"] == internal_page[:WEBHOOK_ANSWER_EXCERPT]
    engine.dispose()
