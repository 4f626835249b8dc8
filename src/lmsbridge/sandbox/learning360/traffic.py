"""What happens to a request before it reaches a route: counters, latency, rate limits, injected faults.

Implemented as one ASGI wrapper because some faults (dropped connections, truncated bodies) need the
raw `send` channel. Only `/api/v2/...` traffic is affected; `/_sandbox/...` control calls never are.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsbridge.sandbox.learning360.tenant import Tenant

FAULT_KINDS = ("status", "hang", "drop", "truncate", "burst429", "revoke_tokens")
TOO_MANY = b'{"error":"tooManyRequests"}'


@dataclass
class FaultRule:
    """Inject `kind` into requests whose route key ("GET /api/v2/users") starts with `route`.

    `probability` draws from the sandbox's seeded RNG; `count` limits how many times it fires (None = no
    limit); `after` lets that many matching requests through first.
    """

    kind: str
    route: str = ""
    probability: float = 1.0
    count: int | None = None
    after: int = 0
    status: int = 503
    hang_seconds: float = 30.0
    fired: int = 0
    seen: int = 0


@dataclass
class Counters:
    calls: Counter[str] = field(default_factory=Counter)
    too_many_requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    bulk_operations_run: int = 0
    bulk_concurrency_rejections: int = 0
    tokens_issued: int = 0
    webhook_deliveries: int = 0
    webhook_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["calls"] = dict(self.calls)
        out["faults"] = dict(self.faults)
        out["total_calls"] = sum(self.calls.values())
        return out


class Traffic:
    """Mutable traffic settings and counters of one sandbox (changed through the control API)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"faults:{seed}")
        self.rules: list[FaultRule] = []
        self.counters = Counters()
        self._reads: deque[float] = deque()
        self._writes: deque[float] = deque()

    def reset_counters(self) -> None:
        self.counters = Counters()

    def set_faults(self, rules: list[FaultRule], seed: int | None = None) -> None:
        self.rules = rules
        if seed is not None:
            self.rng = random.Random(f"faults:{seed}")

    def pick_fault(self, key: str) -> FaultRule | None:
        for rule in self.rules:
            if not key.startswith(rule.route) and not key.split(" ", 1)[-1].startswith(rule.route):
                continue
            rule.seen += 1
            if rule.seen <= rule.after or (rule.count is not None and rule.fired >= rule.count):
                continue
            if rule.probability >= 1.0 or self.rng.random() < rule.probability:
                rule.fired += 1
                return rule
        return None

    def over_limit(self, write: bool, reads_per_s: int, writes_per_s: int) -> bool:
        """Sliding one-second window per company: at most N requests in any second."""
        window, limit = (self._writes, writes_per_s) if write else (self._reads, reads_per_s)
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False


def route_key(router: Router, scope: Scope) -> str:
    """`METHOD /path/template` of the route that will serve this request (the raw path if none)."""
    for route in router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return f"{scope['method']} {getattr(route, 'path', scope['path'])}"
    return f"{scope['method']} {scope['path']}"


class TrafficMiddleware:
    def __init__(self, app: ASGIApp, tenant: Tenant, traffic: Traffic, router: Router) -> None:
        self.app = app
        self.tenant = tenant
        self.traffic = traffic
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        config, traffic = self.tenant.config, self.traffic
        key = route_key(self.router, scope)
        traffic.counters.calls[key] += 1
        if config.latency_ms or config.jitter_ms:
            await asyncio.sleep((config.latency_ms + traffic.rng.random() * config.jitter_ms) / 1000)
        rule = traffic.pick_fault(key)
        if rule is not None:
            traffic.counters.faults[rule.kind] += 1
            if await self._inject(rule, scope, receive, send):
                return
        is_token = scope["path"].endswith("/oauth2/token")
        # Bulk submits have a concurrency limit instead of the per-second one.
        is_bulk_submit = scope["path"].startswith("/api/v2/bulk/") and scope["method"] != "GET"
        if config.rate_limit_enabled and not is_token and not is_bulk_submit:
            write = scope["method"] not in ("GET", "HEAD")
            if traffic.over_limit(write, config.reads_per_second, config.writes_per_second):
                traffic.counters.too_many_requests += 1
                await _send_raw(send, 429, TOO_MANY)
                return
        if is_token:
            traffic.counters.tokens_issued += 1
        self.tenant.tick()
        await self.app(scope, receive, send)

    async def _inject(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> bool:
        """Apply a fault; True when the request is fully handled (no route should run)."""
        if rule.kind == "status":
            body = b'{"error":{"code":"internalServerError","message":"Injected fault."}}'
            await _send_raw(send, rule.status, body)
            return True
        if rule.kind == "burst429":
            self.traffic.counters.too_many_requests += 1
            await _send_raw(send, 429, TOO_MANY)
            return True
        if rule.kind == "hang":
            await asyncio.sleep(rule.hang_seconds)
            return False
        if rule.kind == "drop":
            _abort_connection(send)
            return True
        if rule.kind == "revoke_tokens":
            self.tenant.revoke_tokens()
            return False
        if rule.kind == "truncate":
            await self.app(scope, receive, _truncating(send))
            return True
        return False


async def _send_raw(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _abort_connection(send: Send) -> None:
    """Close the TCP connection with no response (uvicorn's send is bound to its protocol cycle)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("injected dropped connection")
    transport.abort()


def _truncating(send: Send) -> Send:
    """A send that serves only the first half of the body, with a Content-Length that matches it."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            cut = body[: max(1, len(body) // 2)]
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(cut)).encode()))
            await send({"type": "http.response.start", "status": start["status"], "headers": headers})
            await send({"type": "http.response.body", "body": cut})
            return
        await send(message)

    return wrapped
