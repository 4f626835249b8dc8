"""Webhook subscriptions and signed deliveries, verified with the independent `standardwebhooks` package."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sandbox_openapi import check, follow
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360.testing import RunningSandbox, serve_app

SUBS = "/api/v2/webhooks/subscriptions"
ITEM = SUBS + "/{subscriptionId}"


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} deliveries"
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver("")

    async def hook(request: Request) -> Response:
        box.received.append((dict(request.headers), await request.body()))
        if box.fail_next:
            box.fail_next -= 1
            return Response(status_code=500)
        return Response(status_code=204)

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        box.url = f"{url}/hook"
        yield box


def _subscribe(api: httpx.Client, event_type: str, url: str) -> dict[str, Any]:
    response = api.post(SUBS, json={"eventType": event_type, "name": event_type, "url": url})
    return check("webhook", "POST", SUBS, response)  # type: ignore[no-any-return]


def test_subscription_crud(api: httpx.Client, receiver: Receiver) -> None:
    sub = _subscribe(api, "user.updated", receiver.url)
    dup = api.post(SUBS, json={"eventType": "user.updated", "name": "x", "url": receiver.url})
    assert check("webhook", "POST", SUBS, dup)["error"]["code"] == "subscriptionAlreadyExists"
    listed, responses = follow(api, SUBS, {"eventType[eq]": "user.updated"})
    check("webhook", "GET", SUBS, responses[0])
    assert [s["_id"] for s in listed] == [sub["_id"]]
    got = check("webhook", "GET", ITEM, api.get(f"{SUBS}/{sub['_id']}"))
    assert got == sub
    patched = check("webhook", "PATCH", ITEM, api.patch(f"{SUBS}/{sub['_id']}", json={"status": "inactive"}))
    assert patched["status"] == "inactive"
    secret = check("webhook", "GET", ITEM + "/secrets", api.get(f"{SUBS}/{sub['_id']}/secrets"))
    assert secret["secret"].startswith("whsec_")
    assert check("webhook", "DELETE", ITEM, api.delete(f"{SUBS}/{sub['_id']}")) is None
    missing = api.get(f"{SUBS}/{sub['_id']}")
    assert check("webhook", "GET", ITEM, missing)["error"]["code"] == "subscriptionNotFound"


def test_signed_delivery_verifies_with_standard_webhooks(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sub = _subscribe(api, "user.deleted", receiver.url)
    secret = api.get(f"{SUBS}/{sub['_id']}/secrets").json()["secret"]
    user = next(u for u in sandbox.tenant.users.items if u["status"] == "active")
    sandbox.control.delete_user(user["_id"])
    receiver.wait_for(1)
    headers, body = receiver.received[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "user.deleted" and payload["data"]["userId"] == user["_id"]
    assert headers["webhook-id"].startswith("msg_")
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    events, responses = follow(api, f"{SUBS}/{sub['_id']}/events")
    check("webhook", "GET", ITEM + "/events", responses[0])
    assert events[0]["_id"] == headers["webhook-id"]


def test_failed_delivery_is_retried_on_the_clock(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sub = _subscribe(api, "course.attempt.closed", receiver.url)
    receiver.fail_next = 1
    t = sandbox.tenant
    attempt = sandbox.control.create_attempt(t.users.ids[2], t.courses.ids[0], progress=10)
    sandbox.control.update_attempt(attempt["_id"], progress=100)
    receiver.wait_for(1)
    events_url = f"{SUBS}/{sub['_id']}/events"
    deadline = time.monotonic() + 5
    # the failure is recorded once the sandbox has read the 500; only then is the retry scheduled
    while api.get(events_url, params={"status[eq]": "pending"}).json() == []:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert len(receiver.received) == 1  # the next try is 5 s away on the sandbox clock
    sandbox.control.advance_clock(6)
    receiver.wait_for(2)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    secret = api.get(f"{SUBS}/{sub['_id']}/secrets").json()["secret"]
    data = Webhook(secret).verify(second[1], second[0])["data"]
    assert data["attemptId"] == attempt["_id"] and data["reason"] == "learnerFinished"
    deadline = time.monotonic() + 5
    while api.get(f"{SUBS}/{sub['_id']}/events", params={"status[eq]": "delivered"}).json() == []:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_bulk_operation_ended_event(sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver) -> None:
    _subscribe(api, "bulk.operation.ended", receiver.url)
    integration = next(i for i in sandbox.tenant.integrations.items if i)
    response = api.post(f"/api/v2/bulk/integrations/{integration['_id']}/stats", json={"input": []})
    op_id = response.headers["location"].rsplit("/", 1)[1]
    receiver.wait_for(1)
    import json

    data = json.loads(receiver.received[0][1])["data"]
    assert data["bulkOperationId"] == op_id and data["status"] == "completed"
