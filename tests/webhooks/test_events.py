"""Each event type, written through the outbox and delivered to a real receiver: a payload that validates
against Kombo's webhook schema, a signature an independent verifier accepts, the bytes that were signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update
from webhook_support import Receiver, WebhookSchemas

from factories import make_integration
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration, update_integration
from lmsbridge.store.retention import HistoryRetention, prune_history
from lmsbridge.store.schema import InteractionLog, WebhookDelivery, WebhookEvent
from lmsbridge.webhooks import outbox, payloads
from lmsbridge.webhooks.delivery import WebhookDeliverer
from lmsbridge.webhooks.endpoints import create_endpoint, delete_endpoint

END_USER = {"organization_name": "Acme, Inc.", "creator_email": "ops@acme.example", "origin_id": "acme-42"}


def _event_count(db: Engine, event_type: str | None = None) -> int:
    with session_scope(db, readonly=True) as session:
        query = select(func.count()).select_from(WebhookEvent)
        if event_type is not None:
            query = query.where(WebhookEvent.type == event_type)
        return int(session.scalar(query) or 0)


async def _deliver(db: Engine, box: SecretBox, settings: Settings) -> int:
    deliverer = WebhookDeliverer(db, box, settings)
    try:
        return await deliverer.deliver_due()
    finally:
        await deliverer.aclose()


async def test_every_event_type_is_delivered_valid_and_signed(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver, schemas: WebhookSchemas
) -> None:
    with session_scope(db) as session:
        _, secret = create_endpoint(session, box, receiver.url)
    integration_id = make_integration(db, box, end_user=END_USER)
    now = datetime.now(UTC)
    sync_id, log_id = random_id(), random_id()
    ids: dict[str, str | None] = {}
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        ids["integration-created"] = outbox.record_integration_created(session, integration, now)
        outbox.record_changes(session, integration_id, ["users", "course_progressions"], now)
        ids["data-changed"] = outbox.flush_data_changed(session, integration_id, now)
        ids["sync-finished"] = outbox.record_sync_finished(
            session,
            integration_id,
            sync_id=sync_id,
            state="PARTIALLY_FAILED",
            started_at=now - timedelta(seconds=90, milliseconds=400),
            ended_at=now,
            log_url=outbox.log_url(settings.public_base_url, log_id),
            now=now,
        )
        before = outbox.state_snapshot(integration)
        update_integration(session, integration_id, setup_status="COMPLETED", qa_status="PASSED", now=now)
        ids["integration-state-changed"] = outbox.record_state_change_since(session, integration, before, now)
        ids["integration-deleted"] = outbox.record_integration_deleted(session, integration, now)

    assert await _deliver(db, box, settings) == 5
    assert sorted(r.json()["type"] for r in receiver.received) == sorted(payloads.EVENT_TYPES)
    with session_scope(db, readonly=True) as session:
        stored = {e.id: e for e in session.scalars(select(WebhookEvent))}
        states = set(session.scalars(select(WebhookDelivery.state)))
    assert states == {"SUCCEEDED"}
    for request in receiver.received:
        body = request.json()
        schemas.validate(body)
        assert schemas.requires_signature_header(body["type"])
        assert request.signature_valid(secret), body["type"]
        assert not request.signature_valid(secret + "x")
        assert request.headers["content-type"] == "application/json"
        assert body["id"] == ids[body["type"]]
        # the signed bytes are exactly the stored payload's canonical encoding
        assert request.body == payloads.encode(stored[body["id"]].payload)

    by_type = {r.json()["type"]: r.json()["data"] for r in receiver.received}
    assert by_type["data-changed"]["changed_models"] == [
        {"name": "lms_course_progressions"},
        {"name": "lms_users"},
    ]
    finished = by_type["sync-finished"]
    assert finished["sync_id"] == sync_id and finished["sync_state"] == "PARTIALLY_FAILED"
    assert finished["sync_duration_seconds"] == 90
    assert finished["log_url"] == f"http://127.0.0.1:8123/v1/logs/{log_id}"
    assert finished["end_user"] == END_USER
    changed = by_type["integration-state-changed"]
    assert (changed["state"], changed["setup_status"], changed["qa_status"]) == (
        "ACTIVE",
        "COMPLETED",
        "PASSED",
    )
    assert by_type["integration-created"] == {
        "id": integration_id,
        "tool": "360learning",
        "category": "LMS",
        "end_user": END_USER,
    }
    assert by_type["integration-deleted"]["deleted_at"] == payloads.timestamp(now)


async def test_event_filter_and_removed_endpoints(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    with session_scope(db) as session:
        create_endpoint(session, box, receiver.url + "/sync", ["sync-finished"])
        create_endpoint(session, box, receiver.url + "/all")
        removed, _ = create_endpoint(session, box, receiver.url + "/removed")
        assert delete_endpoint(session, removed.id)
    integration_id = make_integration(db, box)
    now = datetime.now(UTC)
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        outbox.record_integration_created(session, integration, now)
        outbox.record_sync_finished(
            session,
            integration_id,
            sync_id=random_id(),
            state="SUCCEEDED",
            started_at=now,
            ended_at=now,
            log_url=outbox.log_url(settings.public_base_url, random_id()),
            now=now,
        )
    assert await _deliver(db, box, settings) == 3
    got = sorted((r.path, r.json()["type"]) for r in receiver.received)
    assert got == [
        ("/hooks/all", "integration-created"),
        ("/hooks/all", "sync-finished"),
        ("/hooks/sync", "sync-finished"),
    ]


async def test_data_changed_is_coalesced_and_never_empty(db: Engine, box: SecretBox) -> None:
    integration_id = make_integration(db, box)
    now = datetime.now(UTC)
    with session_scope(db) as session:
        assert outbox.flush_data_changed(session, integration_id, now) is None
        outbox.record_changes(session, integration_id, [], now)
        assert outbox.flush_data_changed(session, integration_id, now) is None
    with session_scope(db) as session:
        outbox.record_changes(session, integration_id, ["users"], now)
    with session_scope(db) as session:  # an action, later: users again and courses
        outbox.record_changes(session, integration_id, ["lms_users", "courses"], now)
    with session_scope(db) as session:
        first = outbox.flush_data_changed(session, integration_id, now)
        assert first is not None
        assert outbox.flush_data_changed(session, integration_id, now) is None
        event = session.get(WebhookEvent, first)
        assert event is not None
        assert event.payload["data"]["changed_models"] == [{"name": "lms_courses"}, {"name": "lms_users"}]
    assert _event_count(db, "data-changed") == 1


async def test_outbox_rolls_back_with_the_change(db: Engine, box: SecretBox, receiver: Receiver) -> None:
    with session_scope(db) as session:
        create_endpoint(session, box, receiver.url)
    integration_id = make_integration(db, box)
    try:
        with session_scope(db) as session:
            outbox.record_changes(session, integration_id, ["users"], datetime.now(UTC))
            outbox.flush_data_changed(session, integration_id, datetime.now(UTC))
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert _event_count(db) == 0
    with session_scope(db) as session:  # and nothing is left pending for the next flush either
        assert outbox.flush_data_changed(session, integration_id, datetime.now(UTC)) is None


async def test_delivery_logs_hold_no_secret(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    with session_scope(db) as session:
        _, secret = create_endpoint(session, box, receiver.url)
    integration_id = make_integration(db, box)
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        outbox.record_integration_created(session, integration, datetime.now(UTC))
    assert await _deliver(db, box, settings) == 1
    signature = receiver.received[0].headers["x-kombo-signature"]
    with session_scope(db, readonly=True) as session:
        logs = list(session.scalars(select(InteractionLog).where(InteractionLog.kind == "webhook")))
        endpoint_rows = session.execute(select(WebhookDelivery)).scalars().all()
    assert len(logs) == 1 and len(endpoint_rows) == 1
    entry = logs[0]
    assert entry.status_code == 200 and entry.method == "POST" and entry.url == receiver.url
    assert entry.request is not None and entry.request["event_type"] == "integration-created"
    dumped = json.dumps([entry.request, entry.response, entry.error, entry.url])
    assert secret not in dumped and signature not in dumped


async def test_prune_keeps_what_is_still_pending(db: Engine, box: SecretBox, settings: Settings) -> None:
    integration_id = make_integration(db, box)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(db) as session:
        create_endpoint(session, box, "http://127.0.0.1:9/unused")
        integration = get_integration(session, integration_id)
        assert integration is not None
        done = outbox.record_integration_created(session, integration, old)
        pending = outbox.record_integration_created(session, integration, old)
        recent = outbox.record_integration_created(session, integration, old + timedelta(days=40))
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.event_id == done).values(state="SUCCEEDED")
        )
    # the job system's retention job: events older than 30 days go unless a delivery still waits
    retention = HistoryRetention(timedelta(0), timedelta(0), webhook_events=timedelta(days=30))
    with session_scope(db) as session:
        counts = prune_history(session, old + timedelta(days=60), retention)
    assert counts["webhook_events"] == 1
    with session_scope(db, readonly=True) as session:
        assert set(session.scalars(select(WebhookEvent.id))) == {pending, recent}
        assert set(session.scalars(select(WebhookDelivery.event_id))) == {pending, recent}
