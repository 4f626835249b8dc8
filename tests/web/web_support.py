"""What the web tests share: a real lmsbridge server (background services on) over a real sandbox tenant,
a webhook receiver whose answer can be switched, form scraping and polling with a deadline."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import Engine

from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.settings import Settings

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def token_of(link: str) -> str:
    [token] = parse_qs(urlsplit(link).query)["token"]
    return token


@dataclass
class Site:
    """lmsbridge on loopback: ``api`` sends a valid API key; the Connect page's EU region is the sandbox,
    its US region a port where nothing listens."""

    base_url: str
    settings: Settings
    engine: Engine
    api_key: str
    api: httpx.Client
    sandbox: RunningSandbox
    integration_id: str  # connected at start, its first FULL sync done

    def create_link(self, **overrides: Any) -> str:
        body = {
            "end_user_email": "it@acme.example",
            "end_user_organization_name": "Acme Learning",
            "end_user_origin_id": "acme-42",
            "integration_category": "LMS",
            "integration_tool": "360learning",
            **overrides,
        }
        reply = self.api.post("/v1/connect/create-link", json=body)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["data"]["link"])

    def runs(self, integration_id: str) -> list[dict[str, Any]]:
        reply = self.api.get(f"/v1/integrations/{integration_id}/syncs")
        assert reply.status_code == 200, reply.text
        return list(reply.json()["data"])

    def wait_sync_done(self, integration_id: str, sync_id: str | None = None) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            runs = [r for r in self.runs(integration_id) if sync_id is None or r["id"] == sync_id]
            if runs and runs[0]["state"] not in ("QUEUED", "RUNNING"):
                return runs[0]
            return None

        run: dict[str, Any] = wait_for(done, f"a sync of {integration_id} to finish")
        return run

    def secrets(self) -> list[str]:
        """What no page may ever show."""
        return [self.api_key, self.sandbox.client_secret]


@dataclass
class SwitchableReceiver:
    """A webhook receiver on loopback answering ``status`` (switch it to make deliveries fail or pass)."""

    url: str = ""
    status: int = 200
    received: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: dict[str, Any]) -> int:
        with self.lock:
            self.received.append((body, self.status))
            return self.status

    def answers(self, event_id: str) -> list[int]:
        with self.lock:
            return [status for body, status in self.received if body.get("id") == event_id]


@contextmanager
def switchable_receiver() -> Iterator[SwitchableReceiver]:
    import json

    receiver = SwitchableReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            status = receiver.record(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
