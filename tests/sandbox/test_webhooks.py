"""Webhook subscriptions and signed deliveries, verified with the independent `standardwebhooks` package."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sandbox_openapi import check, follow, spec, validate_schema
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


def test_delivery_headers_and_body_follow_the_vendor_webhook_document(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    """Each delivery carries the headers the document's ``webhooks`` section requires, and a body valid
    against the schema it declares for the event type."""
    sub_user = _subscribe(api, "user.updated", receiver.url)
    _subscribe(api, "course.attempt.closed", receiver.url)
    t = sandbox.tenant
    user_id = next(u["_id"] for u in t.users.items if u["status"] == "active")
    sandbox.control.update_user(user_id, firstName="Documented")
    sandbox.control.create_attempt(t.users.ids[3], t.courses.ids[1], progress=100)
    receiver.wait_for(2)
    for headers, body in receiver.received:
        payload = json.loads(body)
        hook = spec("webhook")["webhooks"][payload["type"]]["post"]
        for parameter in hook["parameters"]:
            if parameter.get("in") == "header" and parameter.get("required"):
                assert parameter["name"].lower() in headers, parameter["name"]
        content = hook["requestBody"]["content"]["application/json"]
        validate_schema(
            "webhook",
            "#/webhooks/" + payload["type"] + "/post/requestBody/content/application~1json/schema",
            payload,
        )
        assert content  # the document declares a body for the type
        # seconds in the header, milliseconds in the body (vendor document)
        assert abs(int(headers["webhook-timestamp"]) * 1000 - payload["timestamp"]) < 2000
        assert all(part.startswith("v1,") for part in headers["webhook-signature"].split(" "))
    events, _ = follow(api, f"{SUBS}/{sub_user['_id']}/events")
    user_hook = next(h for h, b in receiver.received if json.loads(b)["type"] == "user.updated")
    assert [e["_id"] for e in events] == [user_hook["webhook-id"]]


def test_event_list_filters_by_created_at(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sub = _subscribe(api, "user.updated", receiver.url)
    user_id = next(u["_id"] for u in sandbox.tenant.users.items if u["status"] == "active")
    sandbox.control.update_user(user_id, firstName="Before")
    sandbox.control.advance_clock(60)
    later = sandbox.control.now()
    sandbox.control.update_user(user_id, firstName="After")
    events_url = f"{SUBS}/{sub['_id']}/events"
    everything, _ = follow(api, events_url)
    since, responses = follow(api, events_url, {"createdAt[gte]": later})
    check("webhook", "GET", ITEM + "/events", responses[0])
    assert len(everything) == 2
    assert [e["payload"]["data"]["firstName"] for e in since] == ["After"]
    before, _ = follow(api, events_url, {"createdAt[lt]": later})
    assert [e["payload"]["data"]["firstName"] for e in before] == ["Before"]


def test_rotated_secret_signs_with_both_secrets_for_24_hours(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sub = _subscribe(api, "user.updated", receiver.url)
    old = api.get(f"{SUBS}/{sub['_id']}/secrets").json()["secret"]
    rotated = api.post(f"{SUBS}/{sub['_id']}/secrets/rotate")
    new = check("webhook", "POST", ITEM + "/secrets/rotate", rotated)["secret"]
    assert new != old and api.get(f"{SUBS}/{sub['_id']}/secrets").json()["secret"] == new
    user_id = next(u["_id"] for u in sandbox.tenant.users.items if u["status"] == "active")
    sandbox.control.update_user(user_id, firstName="Rotated")
    receiver.wait_for(1)
    headers, body = receiver.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    # either secret alone verifies the delivery (a receiver that has not caught up yet keeps working)
    assert Webhook(old).verify(body, headers)["data"]["firstName"] == "Rotated"
    assert Webhook(new).verify(body, headers)["data"]["firstName"] == "Rotated"
    sandbox.control.advance_clock(24 * 3600 + 1)
    sandbox.control.update_user(user_id, firstName="Later")
    receiver.wait_for(2)
    assert len(receiver.received[1][0]["webhook-signature"].split(" ")) == 1


def test_failed_events_are_sent_again_on_request_within_three_days(
    sandbox: RunningSandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sandbox.control.configure(webhook_retry_delays_s=[0])  # one attempt: a failure is final
    sub = _subscribe(api, "user.updated", receiver.url)
    receiver.fail_next = 1
    user_id = next(u["_id"] for u in sandbox.tenant.users.items if u["status"] == "active")
    sandbox.control.update_user(user_id, firstName="Retried")
    events_url = f"{SUBS}/{sub['_id']}/events"
    deadline = time.monotonic() + 5
    while api.get(events_url, params={"status[eq]": "failed"}).json() == []:
        assert time.monotonic() < deadline, "the event was not marked failed"
        time.sleep(0.02)
    retry_url = f"{SUBS}/{sub['_id']}/events/retry-failure"
    too_long = api.post(
        retry_url, json={"startDate": "2020-01-01T00:00:00.000Z", "endDate": "2020-01-05T00:00:00.000Z"}
    )
    assert check("webhook", "POST", ITEM + "/events/retry-failure", too_long)["error"]["code"] == (
        "invalidRetryTimeframe"
    )
    now = sandbox.control.now()
    start = api.get(events_url).json()[0]["createdAt"]
    retried = api.post(retry_url, json={"startDate": start, "endDate": now})
    assert check("webhook", "POST", ITEM + "/events/retry-failure", retried) is None
    receiver.wait_for(2)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    deadline = time.monotonic() + 5
    while api.get(events_url, params={"status[eq]": "delivered"}).json() == []:
        assert time.monotonic() < deadline, "the retried event was not delivered"
        time.sleep(0.02)
    gone = api.post(
        f"{SUBS}/000000000000000000000000/events/retry-success", json={"startDate": start, "endDate": now}
    )
    assert check("webhook", "POST", ITEM + "/events/retry-success", gone)["error"]["code"] == (
        "activeSubscriptionNotFound"
    )
