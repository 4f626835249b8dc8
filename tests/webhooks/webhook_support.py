"""What webhook tests share: a real HTTP receiver on loopback, an independent signature check, the Kombo
webhook schemas, a manual clock and polling with a deadline."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker


def independent_signature(secret: str, raw_body: bytes) -> str:
    """Kombo's documented receiver check, written out again here (not lmsbridge's code)."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        given = self.headers.get("x-kombo-signature", "")
        return hmac.compare_digest(independent_signature(secret, self.body), given)


@dataclass
class Receiver:
    """Records every request; answers with the next scripted status (then ``default_status``).

    ``hold`` (when set) makes requests wait until it is released: a receiver that hangs.
    """

    url: str = ""
    default_status: int = 200
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(timeout=30)
        with self._lock:
            status = self.script.pop(0) if self.script else self.default_status
            self.received.append(Received(path, headers, body, status))
            return status

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = [r.json() for r in self.received]
        return [b for b in items if event_type is None or b["type"] == event_type]

    def successes(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(self.path, headers, body)
            reply = b'{"ok":true}' if status < 300 else b'{"error":"scripted failure"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _nullable_to_json_schema(node: Any) -> Any:
    """The document is OpenAPI 3.1 yet marks nullable fields with 3.0's ``nullable: true``; JSON Schema
    ignores that keyword, so turn it into what it means (null allowed)."""
    if isinstance(node, dict):
        out = {k: _nullable_to_json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable_to_json_schema(v) for v in node]
    return node


class WebhookSchemas:
    """Validates a webhook body against the schema Kombo's document declares for its ``type``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def schema_for(self, event_type: str) -> dict[str, Any]:
        operation = self.document["webhooks"][event_type]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema: dict[str, Any] = _nullable_to_json_schema(copy.deepcopy(node))
        return schema

    def validate(self, body: dict[str, Any]) -> None:
        validator = Draft202012Validator(self.schema_for(body["type"]), format_checker=FormatChecker())
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    def requires_signature_header(self, event_type: str) -> bool:
        parameters = self.document["webhooks"][event_type]["post"].get("parameters", [])
        return any(
            p["name"] == "X-Kombo-Signature" and p["in"] == "header" and p["required"] for p in parameters
        )


class ManualClock:
    """An injectable clock that moves only when told (backoff without waiting hours)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


async def wait_until_async(
    condition: Callable[[], bool], seconds: float = 10.0, what: str = "condition"
) -> None:
    """``wait_until`` for async tests: yields to the event loop between polls."""
    import asyncio

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
