"""360Learning's Webhook API, the calls lmsbridge needs: subscriptions (one per event type), their signing
secrets, and each subscription's event list (read back by DELTA syncs to find missed deliveries)."""

from __future__ import annotations

import builtins
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lmsbridge.connectors.errors import NotFound, UnexpectedResponse
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.mapping import parse_datetime
from lmsbridge.connectors.learning360.query import encode_filters

PATH = "/api/v2/webhooks/subscriptions"
SUBSCRIPTION_NAME = "lmsbridge"


@dataclass(frozen=True, slots=True)
class RemoteSubscription:
    id: str
    event_type: str
    url: str
    active: bool


@dataclass(frozen=True, slots=True)
class RemoteEvent:
    """One entry of a subscription's event list: ``id`` is the deliveries' ``webhook-id``."""

    id: str
    created_at: datetime | None
    event_type: str
    payload: dict[str, Any]


def _subscription(data: Any) -> RemoteSubscription:
    if not isinstance(data, dict) or not data.get("_id") or not data.get("eventType"):
        raise UnexpectedResponse("a webhook subscription without _id or eventType")
    return RemoteSubscription(
        str(data["_id"]), str(data["eventType"]), str(data.get("url") or ""), data.get("status") == "active"
    )


class Learning360Subscriptions:
    """The Webhook API of one tenant, through the connector's client (token, budget, retries)."""

    def __init__(self, client: Learning360Client) -> None:
        self.client = client

    async def list(self) -> builtins.list[RemoteSubscription]:
        found: builtins.list[RemoteSubscription] = []
        async for page in self.client.iter_pages(PATH):
            found.extend(_subscription(item) for item in page.items)
        return found

    async def create(self, event_type: str, url: str) -> RemoteSubscription:
        # a lost answer must not create a second subscription: POST is retried only when surely unsent
        response = await self.client.request(
            "POST", PATH, json_body={"eventType": event_type, "name": SUBSCRIPTION_NAME, "url": url}
        )
        return _subscription(response.data)

    async def reactivate(self, subscription_id: str, url: str) -> RemoteSubscription:
        response = await self.client.request(
            "PATCH", f"{PATH}/{subscription_id}", json_body={"status": "active", "url": url}
        )
        return _subscription(response.data)

    async def delete(self, subscription_id: str) -> None:
        with contextlib.suppress(NotFound):  # gone already
            await self.client.request("DELETE", f"{PATH}/{subscription_id}")

    async def secret(self, subscription_id: str) -> str:
        data = await self.client.get_json(f"{PATH}/{subscription_id}/secrets")
        if not isinstance(data, dict) or not isinstance(data.get("secret"), str) or not data["secret"]:
            raise UnexpectedResponse("a subscription's secret answer without a secret")
        return str(data["secret"])

    async def events_since(self, subscription_id: str, since: datetime | None) -> builtins.list[RemoteEvent]:
        """The subscription's events created at or after ``since`` (all retained ones without it)."""
        params = encode_filters({"createdAt": {"gte": since}}) if since is not None else ()
        found: builtins.list[RemoteEvent] = []
        async for page in self.client.iter_pages(f"{PATH}/{subscription_id}/events", params):
            for item in page.items:
                payload = item.get("payload")
                if not item.get("_id") or not isinstance(payload, dict):
                    continue
                found.append(
                    RemoteEvent(
                        str(item["_id"]),
                        parse_datetime(item.get("createdAt")),
                        str(payload.get("type") or ""),
                        payload,
                    )
                )
        return found
