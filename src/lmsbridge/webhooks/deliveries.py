"""Delivery history: recent deliveries with their event and endpoint (CLI and API), and pruning old events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lmsbridge.store.schema import WebhookDelivery, WebhookEndpoint, WebhookEvent


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: str
    event_id: str
    event_type: str
    integration_id: str | None
    endpoint_id: str
    url: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def recent_deliveries(
    session: Session,
    *,
    limit: int = 50,
    endpoint_id: str | None = None,
    state: str | None = None,
    event_id: str | None = None,
) -> list[DeliveryView]:
    """Newest first."""
    query = (
        select(WebhookDelivery, WebhookEvent.type, WebhookEvent.integration_id, WebhookEndpoint.url)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    return [
        DeliveryView(
            id=d.id,
            event_id=d.event_id,
            event_type=event_type,
            integration_id=integration_id,
            endpoint_id=d.endpoint_id,
            url=url,
            state=d.state,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
        )
        for d, event_type, integration_id, url in session.execute(query).all()
    ]


def redeliver(session: Session, delivery_id: str, now: datetime, endpoint_id: str | None = None) -> bool:
    """Send a delivery again now (the API, the dashboard): a finished one (FAILED or SUCCEEDED) starts a
    fresh round of attempts, a PENDING one becomes due at once. False when there is no such delivery
    (of ``endpoint_id``, when given)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or (endpoint_id is not None and delivery.endpoint_id != endpoint_id):
        return False
    # conditional on the state read, so a deliverer finishing the row meanwhile is not overwritten blindly
    if delivery.state == "PENDING":
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == "PENDING")
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == delivery.state)
            .values(state="PENDING", attempts=0, next_attempt_at=now, delivered_at=None)
            .execution_options(synchronize_session=False)
        )
    session.expire(delivery)
    return True
