"""``/v1/webhooks`` (our extension): manage the endpoints that receive signed webhook events.

Kombo configures webhooks in its dashboard; self-hosters do it here (or with ``lmsbridge webhooks``).
A secret is returned only by create and rotate-secret; it is stored encrypted and never shown again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from lmsbridge.api.deps import ContextDep, ReadSession, WriteSession, current_api_key, wake_background
from lmsbridge.api.errors import NOT_FOUND_TITLE, ApiError, input_invalid
from lmsbridge.api.responses import json_response
from lmsbridge.api.routes.logs import EXTENSIONS_TAG
from lmsbridge.crypto import SecretBox
from lmsbridge.store.schema import WebhookEndpoint as EndpointRow
from lmsbridge.unified import wire
from lmsbridge.unified.wire import Timestamp, WireModel
from lmsbridge.webhooks import endpoints as repo
from lmsbridge.webhooks.deliveries import recent_deliveries, redeliver
from lmsbridge.webhooks.payloads import EVENT_TYPES

router = APIRouter(prefix="/webhooks", tags=[EXTENSIONS_TAG], dependencies=[Depends(current_api_key)])

EventType = Literal[
    "data-changed", "sync-finished", "integration-created", "integration-deleted", "integration-state-changed"
]
assert set(get_args(EventType)) == set(EVENT_TYPES)  # the API's enum is the outbox's list of types


class CreateWebhookBody(WireModel):
    url: str = Field(
        description="Where events are POSTed (http:// or https://).", examples=["https://example.com/hooks"]
    )
    event_types: list[EventType] | None = Field(
        default=None, description="Only these event types; omit or null for all of them."
    )


class WebhookEndpoint(WireModel):
    id: str
    url: str
    event_types: list[EventType] | None = Field(description="null = every event type.")
    created_at: Timestamp


class WebhookEndpointWithSecret(WebhookEndpoint):
    secret: str = Field(
        description="HMAC-SHA256 key of the `X-Kombo-Signature` header. Shown only in this response."
    )


class WebhookList(WireModel):
    results: list[WebhookEndpoint]


class WebhookDelivery(WireModel):
    id: str
    event_id: str
    event_type: str
    integration_id: str | None
    state: Literal["PENDING", "SUCCEEDED", "FAILED"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: Timestamp
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None


class WebhookDeliveryList(WireModel):
    results: list[WebhookDelivery]


class CreateWebhookResponse(wire.Success[WebhookEndpointWithSecret]):
    pass


class ListWebhooksResponse(wire.Success[WebhookList]):
    pass


class ListDeliveriesResponse(wire.Success[WebhookDeliveryList]):
    pass


def _box(ctx: ContextDep) -> SecretBox:
    return SecretBox.from_settings(ctx.settings)


BoxDep = Annotated[SecretBox, Depends(_box)]


def _view(row: EndpointRow) -> WebhookEndpoint:
    return WebhookEndpoint(id=row.id, url=row.url, event_types=row.event_types, created_at=row.created_at)


def _with_secret(row: EndpointRow, secret: str) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(**_view(row).model_dump(), secret=secret)


def _not_found(webhook_id: str) -> ApiError:
    return ApiError(None, f"No webhook endpoint with id {webhook_id!r}.", status=404, title=NOT_FOUND_TITLE)


@router.post(
    "",
    operation_id="PostWebhooks",
    summary="Create a webhook endpoint",
    description="lmsbridge extension: events are POSTed to `url`, signed with the returned secret "
    "(`X-Kombo-Signature`). The secret is shown only in this response.",
    response_model=CreateWebhookResponse,
)
def create_webhook(
    session: WriteSession, box: BoxDep, ctx: ContextDep, body: Annotated[CreateWebhookBody, Body()]
) -> Response:
    try:
        row, secret = repo.create_endpoint(
            session, box, body.url, body.event_types, allow_private=ctx.settings.allow_private_hosts
        )
    except repo.InvalidEndpoint as exc:
        raise input_invalid(str(exc)) from exc
    return json_response(CreateWebhookResponse(data=_with_secret(row, secret)))


@router.get(
    "",
    operation_id="GetWebhooks",
    summary="List webhook endpoints",
    description="lmsbridge extension: the configured endpoints (without their secrets).",
    response_model=ListWebhooksResponse,
)
def list_webhooks(session: ReadSession) -> Response:
    rows = repo.list_endpoints(session)
    return json_response(ListWebhooksResponse(data=WebhookList(results=[_view(r) for r in rows])))


@router.delete(
    "/{webhook_id}",
    operation_id="DeleteWebhooksWebhookId",
    summary="Delete a webhook endpoint",
    description="lmsbridge extension: stop sending to this endpoint; its pending deliveries are dropped.",
    response_model=wire.EmptyPositiveResponse,
)
def delete_webhook(webhook_id: str, session: WriteSession) -> Response:
    if not repo.delete_endpoint(session, webhook_id):
        raise _not_found(webhook_id)
    return json_response(wire.EmptyPositiveResponse(data=wire.Empty()))


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="PostWebhooksWebhookIdRotateSecret",
    summary="Rotate a webhook endpoint's secret",
    description="lmsbridge extension: a new secret, shown only in this response; every request sent "
    "from now on (retries included) is signed with it.",
    response_model=CreateWebhookResponse,
)
def rotate_webhook_secret(webhook_id: str, session: WriteSession, box: BoxDep) -> Response:
    rotated = repo.rotate_secret(session, box, webhook_id)
    if rotated is None:
        raise _not_found(webhook_id)
    row, secret = rotated
    return json_response(CreateWebhookResponse(data=_with_secret(row, secret)))


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="GetWebhooksWebhookIdDeliveries",
    summary="List an endpoint's recent deliveries",
    description="lmsbridge extension: newest first, with attempts, last HTTP status and error.",
    response_model=ListDeliveriesResponse,
)
def list_webhook_deliveries(
    webhook_id: str,
    session: ReadSession,
    page_size: Annotated[int, Query(ge=1, le=250, description="How many (newest first).")] = 50,
) -> Response:
    if repo.get_endpoint(session, webhook_id) is None:
        raise _not_found(webhook_id)
    views = recent_deliveries(session, limit=page_size, endpoint_id=webhook_id)
    results = [
        WebhookDelivery(
            id=v.id,
            event_id=v.event_id,
            event_type=v.event_type,
            integration_id=v.integration_id,
            state=v.state,
            attempts=v.attempts,
            last_status=v.last_status,
            last_error=v.last_error,
            created_at=v.created_at,
            next_attempt_at=v.next_attempt_at,
            delivered_at=v.delivered_at,
        )
        for v in views
    ]
    return json_response(ListDeliveriesResponse(data=WebhookDeliveryList(results=results)))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id="PostWebhooksWebhookIdDeliveriesDeliveryIdRedeliver",
    summary="Redeliver a webhook delivery",
    description="lmsbridge extension: send the event to the endpoint again now. A failed (or succeeded) "
    "delivery starts a fresh round of attempts; a pending one is tried at once.",
    response_model=wire.EmptyPositiveResponse,
)
def redeliver_delivery(
    request: Request, webhook_id: str, delivery_id: str, session: WriteSession
) -> Response:
    if not redeliver(session, delivery_id, datetime.now(UTC), endpoint_id=webhook_id):
        raise ApiError(
            None,
            f"No delivery {delivery_id!r} of webhook endpoint {webhook_id!r}.",
            status=404,
            title=NOT_FOUND_TITLE,
        )
    session.commit()  # visible to the deliverer before it is woken
    wake_background(request)
    return json_response(wire.EmptyPositiveResponse(data=wire.Empty()))
