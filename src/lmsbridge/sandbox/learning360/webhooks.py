"""Webhook subscriptions, secrets and events, and signed deliveries with the documented retry schedule.

Signatures follow the Standard Webhooks scheme: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`
with the base64-decoded part of a `whsec_` secret, sent as `webhook-signature: v1,<base64>`.
Retries are scheduled on the sandbox clock, so tests can advance it instead of waiting.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360.errors import ApiError, bad_request, json_response, not_found
from lmsbridge.sandbox.learning360.http import endpoint, json_body, paginate, path_id, tenant_of
from lmsbridge.sandbox.learning360.pages import take
from lmsbridge.sandbox.learning360.query import Filters, match_value, spec
from lmsbridge.sandbox.learning360.tenant import Collection, Tenant
from lmsbridge.sandbox.learning360.timefmt import iso, parse_iso
from lmsbridge.sandbox.learning360.traffic import Traffic
from lmsbridge.sandbox.learning360.vocab import EVENT_STATUSES, EVENT_TYPES

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order: ids sort by time
LEGACY_SECRET_MS = 24 * 3600 * 1000
MAX_PER_EVENT_TYPE = 10  # undocumented limit (guess)
MAX_RETRY_WINDOW_MS = 3 * 24 * 3600 * 1000  # "maximum 3 days per request"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass
class Event:
    id: str
    created_ms: int
    payload: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    next_attempt_ms: int = 0


@dataclass
class Subscription:
    dto: dict[str, Any]
    secret: str
    legacy_secret: str | None = None
    legacy_until_ms: int = 0
    events: Collection[Event] = field(default_factory=Collection)


class Webhooks:
    def __init__(self, tenant: Tenant, traffic: Traffic) -> None:
        self.tenant = tenant
        self.traffic = traffic
        self.subscriptions: Collection[Subscription | None] = Collection()
        self._counter = 0
        self._inflight: set[asyncio.Task[None]] = set()
        tenant.listeners.append(self.on_event)

    def _msg_id(self, now_ms: int) -> str:
        self._counter += 1
        value, out = (now_ms << 24) | (self._counter & 0xFFFFFF), ""
        while value:
            value, digit = divmod(value, 62)
            out = _B62[digit] + out
        return "msg_" + out.rjust(27, "0")

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        now = self.tenant.now_ms()
        for sub in self.subscriptions.items:
            if sub is None or sub.dto["eventType"] != event_type or sub.dto["status"] != "active":
                continue
            event = Event(self._msg_id(now), now, {"type": event_type, "timestamp": now, "data": data})
            event.next_attempt_ms = now
            sub.events.add(event.id, event)

    async def tick(self) -> None:
        """Start every delivery that is due (each runs as its own task: a slow receiver blocks nothing)."""
        now = self.tenant.now_ms()
        for sub in self.subscriptions.items:
            if sub is None:
                continue
            for event in sub.events.items:
                if event.status == "pending" and event.next_attempt_ms <= now:
                    event.status = "sending"
                    task = asyncio.create_task(self._deliver(sub, event))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)

    async def _deliver(self, sub: Subscription, event: Event) -> None:
        config = self.tenant.config
        body = json.dumps(event.payload, separators=(",", ":")).encode()
        now = self.tenant.now_ms()
        timestamp = now // 1000
        signatures = [sign(sub.secret, event.id, timestamp, body)]
        if sub.legacy_secret and now < sub.legacy_until_ms:
            signatures.append(sign(sub.legacy_secret, event.id, timestamp, body))
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }
        ok = False
        try:
            async with httpx.AsyncClient(timeout=config.webhook_timeout_s, follow_redirects=False) as client:
                response = await client.post(sub.dto["url"], content=body, headers=headers)
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        event.attempts += 1
        self.traffic.counters.webhook_deliveries += 1
        if ok:
            event.status = "delivered"
            return
        self.traffic.counters.webhook_failures += 1
        delays = config.webhook_retry_delays_s
        if event.attempts >= len(delays):
            event.status = "failed"
        else:
            event.status = "pending"
            event.next_attempt_ms = self.tenant.now_ms() + int(delays[event.attempts] * 1000)


def hooks_of(request: Request) -> Webhooks:
    hooks: Webhooks = request.app.state.webhooks
    return hooks


def _subscription(request: Request) -> Subscription:
    sub = hooks_of(request).subscriptions.get(path_id(request, "subscriptionId"))
    if sub is None:
        raise not_found(
            "subscriptionNotFound", "The given `subscriptionId` does not correspond to any subscription."
        )
    return sub


def _check_fields(body: Any, required: bool) -> dict[str, Any]:
    allowed = {"eventType", "name", "url"} if required else {"name", "status", "url"}
    if not isinstance(body, dict) or set(body) - allowed:
        raise bad_request(f"The body may only contain {sorted(allowed)}.")
    if required and set(body) != allowed:
        raise bad_request("eventType, name and url are required.")
    if "eventType" in body and body["eventType"] not in EVENT_TYPES:
        raise bad_request("Unknown eventType.")
    if "status" in body and body["status"] not in ("active", "inactive"):
        raise bad_request("status must be active or inactive.")
    for key in ("name", "url"):
        if key in body and not (isinstance(body[key], str) and body[key]):
            raise bad_request(f"'{key}' must be a non-empty string.")
    if "url" in body and not body["url"].startswith(("http://", "https://")):
        raise ApiError(400, "urlUnreachable", "The provided URL is unreachable.")
    return body


@endpoint("webhooks:write")
async def create_subscription(request: Request) -> Response:
    hooks, tenant = hooks_of(request), tenant_of(request)
    body = _check_fields(await json_body(request), required=True)
    same_type = [
        s for s in hooks.subscriptions.items if s is not None and s.dto["eventType"] == body["eventType"]
    ]
    if any(s.dto["url"] == body["url"] for s in same_type):
        raise ApiError(
            400, "subscriptionAlreadyExists", "A subscription already exists for this event type and URL."
        )
    if len(same_type) >= MAX_PER_EVENT_TYPE:
        raise ApiError(400, "subscriptionsLimitReached", "The maximum number of subscriptions is reached.")
    sub_id = tenant.misc_ids.next(tenant.now_ms() // 1000)
    dto = {
        "_id": sub_id,
        "eventType": body["eventType"],
        "name": body["name"],
        "url": body["url"],
        "status": "active",
    }
    hooks.subscriptions.add(sub_id, Subscription(dto, new_secret()))
    return json_response(dto, 201)


SUBSCRIPTION_FILTERS = {"eventType": spec("string", "eq", "ne", "in", "nin", enum=EVENT_TYPES)}
EVENT_FILTERS = {"createdAt": spec("date", "lt", "gte"), "status": spec("string", "eq", enum=EVENT_STATUSES)}


@endpoint("webhooks:read")
async def list_subscriptions(request: Request) -> Response:
    hooks = hooks_of(request)

    def source(filters: Filters, after: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
        subs = hooks.subscriptions
        picked, more = take(
            subs.items[subs.start_after(after) :],
            lambda s: s is not None and all(match_value(s.dto.get(n), o) for n, o in filters.items()),
            size,
        )
        rows = [s.dto for s in picked]
        return rows, (rows[-1]["_id"] if more and rows else None)

    return paginate(request, "subscriptions", "subscriptions", SUBSCRIPTION_FILTERS, source)


async def subscription_item(request: Request) -> Response:
    scope = "webhooks:read" if request.method == "GET" else "webhooks:write"

    async def handle(request: Request) -> Response:
        sub = _subscription(request)
        if request.method == "PATCH":
            sub.dto.update(_check_fields(await json_body(request), required=False))
        elif request.method == "DELETE":
            hooks = hooks_of(request)
            hooks.subscriptions.items[hooks.subscriptions.pos[sub.dto["_id"]]] = None
            return Response(status_code=204)
        return json_response(sub.dto)

    return await endpoint(scope)(handle)(request)


@endpoint("webhookSecrets:read")
async def get_secret(request: Request) -> Response:
    return json_response({"secret": _subscription(request).secret})


@endpoint("webhookSecrets:write")
async def rotate_secret(request: Request) -> Response:
    sub = _subscription(request)
    sub.legacy_secret, sub.legacy_until_ms = sub.secret, tenant_of(request).now_ms() + LEGACY_SECRET_MS
    sub.secret = new_secret()
    return json_response({"secret": sub.secret}, 201)


@endpoint("webhooks:read")
async def list_events(request: Request) -> Response:
    sub = _subscription(request)

    def source(filters: Filters, after: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
        def value(event: Event, name: str) -> Any:
            return event.created_ms if name == "createdAt" else event.status

        picked, more = take(
            sub.events.items[sub.events.start_after(after) :],
            lambda e: all(match_value(value(e, n), o) for n, o in filters.items()),
            size,
        )
        rows = [
            {"_id": e.id, "createdAt": iso(e.created_ms), "status": e.status, "payload": e.payload}
            for e in picked
        ]
        return rows, (rows[-1]["_id"] if more and rows else None)

    return paginate(request, f"events:{sub.dto['_id']}", "events", EVENT_FILTERS, source)


def _retry(from_status: str) -> Any:
    """POST …/events/retry-failure (failed events) or retry-success (delivered ones) in a window of at
    most 3 days: each is sent again from the first attempt."""

    @endpoint("webhooks:write")
    async def retry(request: Request) -> Response:
        hooks = hooks_of(request)
        sub = hooks.subscriptions.get(path_id(request, "subscriptionId"))
        if sub is None or sub.dto["status"] != "active":
            raise not_found(
                "activeSubscriptionNotFound",
                "The given `subscriptionId` does not correspond to any active subscription.",
            )
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) != {"startDate", "endDate"}:
            raise bad_request("startDate and endDate are required, and nothing else.")
        start, end = (
            parse_iso(v) if isinstance(v, str) else None for v in (body["startDate"], body["endDate"])
        )
        if start is None or end is None or end <= start or end - start > MAX_RETRY_WINDOW_MS:
            raise ApiError(
                400,
                "invalidRetryTimeframe",
                "The retry timeframe is limited to 3 days and the endDate must be after the startDate.",
            )
        now = hooks.tenant.now_ms()
        for event in sub.events.items:
            if event.status == from_status and start <= event.created_ms <= end:
                event.status, event.attempts, event.next_attempt_ms = "pending", 0, now
        return Response(status_code=204)

    return retry


ROUTES = [
    Route("/api/v2/webhooks/subscriptions", create_subscription, methods=["POST"]),
    Route("/api/v2/webhooks/subscriptions", list_subscriptions, methods=["GET"]),
    Route(
        "/api/v2/webhooks/subscriptions/{subscriptionId}",
        subscription_item,
        methods=["GET", "PATCH", "DELETE"],
    ),
    Route("/api/v2/webhooks/subscriptions/{subscriptionId}/secrets", get_secret, methods=["GET"]),
    Route("/api/v2/webhooks/subscriptions/{subscriptionId}/secrets/rotate", rotate_secret, methods=["POST"]),
    Route("/api/v2/webhooks/subscriptions/{subscriptionId}/events", list_events, methods=["GET"]),
    Route(
        "/api/v2/webhooks/subscriptions/{subscriptionId}/events/retry-failure",
        _retry("failed"),
        methods=["POST"],
    ),
    Route(
        "/api/v2/webhooks/subscriptions/{subscriptionId}/events/retry-success",
        _retry("delivered"),
        methods=["POST"],
    ),
]


def install(app: Starlette) -> Webhooks:
    hooks = Webhooks(app.state.tenant, app.state.traffic)
    app.state.webhooks = hooks
    app.state.tickers.append(hooks.tick)
    return hooks
