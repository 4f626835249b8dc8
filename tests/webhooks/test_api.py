"""``/v1/webhooks`` over real HTTP: create (secret shown once, stored encrypted), list, rotate, delete,
deliveries; and the integration routes that emit integration-deleted and integration-state-changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine
from webhook_support import Receiver, WebhookSchemas

from factories import make_integration
from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import serve_app
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import WebhookEndpoint
from lmsbridge.webhooks.delivery import WebhookDeliverer


@dataclass
class Api:
    client: httpx.Client
    db: Engine
    box: SecretBox
    settings: Settings

    async def deliver(self) -> int:
        deliverer = WebhookDeliverer(self.db, self.box, self.settings)
        try:
            return await deliverer.deliver_due()
        finally:
            await deliverer.aclose()


@pytest.fixture
def api(db: Engine, box: SecretBox, settings: Settings) -> Iterator[Api]:
    with session_scope(db) as session:
        _, key = create_api_key(session, "webhook tests")
    with (
        serve_app(create_app(settings, engine=db)) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
    ):
        yield Api(client, db, box, settings)


def _create(api: Api, url: str, event_types: list[str] | None = None) -> dict[str, str]:
    body: dict[str, object] = {"url": url}
    if event_types is not None:
        body["event_types"] = event_types
    reply = api.client.post("/v1/webhooks", json=body)
    assert reply.status_code == 200, reply.text
    data: dict[str, str] = reply.json()["data"]
    return data


async def test_create_list_rotate_delete(api: Api, receiver: Receiver) -> None:
    created = _create(api, receiver.url, ["integration-deleted", "sync-finished"])
    assert created["url"] == receiver.url and created["event_types"] == [
        "integration-deleted",
        "sync-finished",
    ]
    secret = created["secret"]
    assert len(secret) >= 32

    listed = api.client.get("/v1/webhooks").json()
    assert listed["status"] == "success"
    assert listed["data"]["results"] == [{k: v for k, v in created.items() if k != "secret"}]
    assert secret not in api.client.get("/v1/webhooks").text
    with session_scope(api.db, readonly=True) as session:
        row = session.get(WebhookEndpoint, created["id"])
        assert row is not None
    assert secret not in row.secret_encrypted and api.box.decrypt(row.secret_encrypted) == secret

    rotated = api.client.post(f"/v1/webhooks/{created['id']}/rotate-secret").json()["data"]
    assert rotated["id"] == created["id"] and rotated["secret"] != secret

    # the next delivery is signed with the new secret only
    integration_id = make_integration(api.db, api.box)
    assert api.client.delete(f"/v1/integrations/{integration_id}").status_code == 200
    assert await api.deliver() == 1
    (request,) = receiver.received
    assert request.signature_valid(rotated["secret"]) and not request.signature_valid(secret)

    deliveries = api.client.get(f"/v1/webhooks/{created['id']}/deliveries").json()["data"]["results"]
    assert [(d["event_type"], d["state"], d["attempts"]) for d in deliveries] == [
        ("integration-deleted", "SUCCEEDED", 1)
    ]
    assert deliveries[0]["event_id"] == request.json()["id"]

    assert api.client.delete(f"/v1/webhooks/{created['id']}").json() == {"status": "success", "data": {}}
    assert api.client.get("/v1/webhooks").json()["data"]["results"] == []
    missing = api.client.delete(f"/v1/webhooks/{created['id']}")
    assert missing.status_code == 404 and missing.json()["status"] == "error"
    assert api.client.post(f"/v1/webhooks/{created['id']}/rotate-secret").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hooks"},
        {"url": "not a url"},
        {"url": "https://user:pass@example.com/hooks"},
        {"url": "https://example.com/hooks", "event_types": ["no-such-event"]},
        {},
    ],
)
def test_invalid_endpoints_are_rejected(api: Api, body: dict[str, object]) -> None:
    reply = api.client.post("/v1/webhooks", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "PLATFORM.INPUT_INVALID"
    assert api.client.get("/v1/webhooks").json()["data"]["results"] == []


def test_requires_an_api_key(api: Api) -> None:
    reply = httpx.get(f"{api.client.base_url}/v1/webhooks")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "PLATFORM.AUTHENTICATION_INVALID"


async def test_integration_routes_emit_events(api: Api, receiver: Receiver, schemas: WebhookSchemas) -> None:
    secret = _create(api, receiver.url)["secret"]
    integration_id = make_integration(api.db, api.box)
    assert (
        api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": False}).status_code == 200
    )
    assert (
        api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": False}).status_code == 200
    )
    assert (
        api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": True}).status_code == 200
    )
    assert api.client.delete(f"/v1/integrations/{integration_id}").status_code == 200
    assert await api.deliver() == 3  # disabling twice is one change; enabling again is another
    for request in receiver.received:
        schemas.validate(request.json())
        assert request.signature_valid(secret)
    bodies = sorted((r.json() for r in receiver.received), key=lambda b: b["data"].get("updated_at", "~"))
    assert [(b["type"], b["data"].get("state")) for b in bodies] == [
        ("integration-state-changed", "INACTIVE"),
        ("integration-state-changed", "ACTIVE"),
        ("integration-deleted", None),
    ]
    assert {b["data"].get("integration_id", b["data"].get("id")) for b in bodies} == {integration_id}
