"""With the guarded transport (lmsbridge.netguard) a delivery never reaches a non-public address,
even when the endpoint's host resolves to one only after it was accepted (a DNS change)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from webhook_support import Receiver

from factories import make_integration
from lmsbridge.crypto import SecretBox
from lmsbridge.netguard import GuardedTransport
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import InteractionLog, WebhookDelivery
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.delivery import WebhookDeliverer
from lmsbridge.webhooks.endpoints import create_endpoint


async def test_a_guarded_deliverer_refuses_a_loopback_receiver(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    # accepted while the name pointed elsewhere (here: allowed explicitly), now it is loopback
    url = receiver.url.replace("127.0.0.1", "localhost")
    with session_scope(db) as session:
        create_endpoint(session, box, url, allow_private=True)
    integration_id = make_integration(db, box)
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        outbox.record_integration_created(session, integration, datetime.now(UTC))
    deliverer = WebhookDeliverer(db, box, settings, transport=GuardedTransport(allow_private=False))
    try:
        assert await deliverer.deliver_due() == 1
    finally:
        await deliverer.aclose()
    assert receiver.received == []  # nothing reached the loopback service
    with session_scope(db, readonly=True) as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        logged = session.scalars(select(InteractionLog).where(InteractionLog.kind == "webhook")).one()
    assert delivery.state == "PENDING" and delivery.last_status is None
    assert delivery.last_error is not None and "loopback" in delivery.last_error
    assert logged.error is not None and "LMSBRIDGE_ALLOW_PRIVATE_HOSTS" in logged.error
