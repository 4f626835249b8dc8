"""Real syncs against the sandbox with the deliverer running: data-changed lists exactly the models the
sync changed (nothing for a sync that changed nothing), sync-finished follows every sync, and the first
full sync's setup change is an integration-state-changed event."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from webhook_support import Receiver, WebhookSchemas, running_receiver, wait_until_async

from lmsbridge.crypto import SecretBox
from lmsbridge.runtime import Runtime
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.schema import RECORD_TABLES, User, WebhookDelivery, WebhookEvent
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.delivery import WebhookDeliverer
from lmsbridge.webhooks.endpoints import create_endpoint

# seed 9: no user was deleted more than 14 days ago (seed 7 has one: see the resync test below)
TENANT = {"users": 20, "courses": 8, "attempts": 120, "integrations": 1}


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=9, **TENANT) as sb:
        yield sb


def _changed_at(db: Engine, integration_id: str) -> dict[str, dict[str, datetime]]:
    """Per Kombo model name, remote id → changed_at: what a reader of the API would see move."""
    out: dict[str, dict[str, datetime]] = {}
    with session_scope(db, readonly=True) as session:
        for table in RECORD_TABLES.values():
            rows = session.execute(
                select(table.remote_id, table.changed_at).where(table.integration_id == integration_id)
            )
            out[table.__tablename__] = {remote_id: changed_at for remote_id, changed_at in rows}  # type: ignore[attr-defined]
    return out


def _moved(before: dict[str, dict[str, datetime]], after: dict[str, dict[str, datetime]]) -> list[str]:
    return sorted(
        model
        for model, rows in after.items()
        if rows != before.get(model, {})  # created, changed or deleted records
    )


def _undelivered(db: Engine) -> int:
    with session_scope(db, readonly=True) as session:
        query = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state != "SUCCEEDED")
        return int(session.scalar(query) or 0)


async def test_sync_events(
    sandbox: RunningSandbox,
    db: Engine,
    box: SecretBox,
    settings: Settings,
    receiver: Receiver,
    schemas: WebhookSchemas,
) -> None:
    with session_scope(db) as session:
        _, secret = create_endpoint(session, box, receiver.url)
        integration = create_integration(
            session,
            box,
            tool="360learning",
            base_url=sandbox.base_url,
            credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        )
        integration_id = integration.id
    engine = SyncEngine(db, box, options=SyncOptions(public_base_url=settings.public_base_url))
    deliverer = Runtime(settings.model_copy(update={"job_poll_seconds": 0.05}), db, schedule=False)
    await deliverer.start()
    try:

        async def sync(expected_finished: int) -> list[str]:
            before = _changed_at(db, integration_id)
            outcome = await engine.run_new(integration_id, "FULL")
            assert outcome.state == "SUCCEEDED", outcome.error
            await wait_until_async(
                lambda: len(receiver.bodies("sync-finished")) == expected_finished and _undelivered(db) == 0,
                what="the sync's events to be delivered",
            )
            finished = receiver.bodies("sync-finished")[-1]["data"]
            assert finished["sync_id"] == outcome.run_id and finished["sync_state"] == "SUCCEEDED"
            assert finished["log_url"] == f"{settings.public_base_url}/v1/logs/{outcome.log_id}"
            return _moved(before, _changed_at(db, integration_id))

        first = await sync(1)
        assert {"lms_users", "lms_courses", "lms_course_revisions", "lms_course_progressions"} <= set(first)
        changed = receiver.bodies("data-changed")
        assert len(changed) == 1
        assert [m["name"] for m in changed[0]["data"]["changed_models"]] == first
        state_changes = receiver.bodies("integration-state-changed")
        assert [b["data"]["setup_status"] for b in state_changes] == ["COMPLETED"]

        with session_scope(db, readonly=True) as session:
            target = session.scalars(
                select(User.remote_id).where(User.integration_id == integration_id, User.status == "ACTIVE")
            ).first()
        assert target is not None
        sandbox.control.update_user(target, firstName="Renamed")
        second = await sync(2)
        assert second == ["lms_users"]
        changed = receiver.bodies("data-changed")
        assert len(changed) == 2
        assert changed[1]["data"]["changed_models"] == [{"name": "lms_users"}]

        assert await sync(3) == []  # nothing changed remotely …
        assert len(receiver.bodies("data-changed")) == 2  # … so no data-changed, only sync-finished
        with session_scope(db, readonly=True) as session:
            count = session.scalar(
                select(func.count()).select_from(WebhookEvent).where(WebhookEvent.type == "data-changed")
            )
        assert count == 2
        assert len(receiver.bodies("integration-state-changed")) == 1  # setup completed only once
    finally:
        await deliverer.stop()

    for request in receiver.received:
        schemas.validate(request.json())
        assert request.signature_valid(secret)
    assert len({b["id"] for b in receiver.bodies()}) == len(receiver.received)


async def test_a_resync_of_an_unchanged_tenant_with_old_deletions_changes_nothing(
    db: Engine, box: SecretBox
) -> None:
    with running_sandbox(seed=7, **TENANT) as sandbox:  # seed 7 has a user deleted in 2024
        with session_scope(db) as session:
            integration_id = create_integration(
                session,
                box,
                tool="360learning",
                base_url=sandbox.base_url,
                credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
            ).id
        engine = SyncEngine(db, box)
        assert (await engine.run_new(integration_id, "FULL")).state == "SUCCEEDED"
        assert (await engine.run_new(integration_id, "FULL")).changed_models == []


async def test_a_hanging_receiver_does_not_slow_a_sync(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings
) -> None:
    hold = threading.Event()
    with running_receiver(hold=hold) as receiver:
        with session_scope(db) as session:
            create_endpoint(session, box, receiver.url)
            integration = create_integration(
                session,
                box,
                tool="360learning",
                base_url=sandbox.base_url,
                credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
            )
            integration_id = integration.id
            outbox.record_integration_created(session, integration, datetime.now(UTC))
        # the deliveries' jobs share the sync's event loop, as in `lmsbridge serve`
        deliverer = Runtime(settings.model_copy(update={"job_poll_seconds": 0.05}), db, schedule=False)
        deliverer.deliverer.http_timeout = 30.0  # the receiver holds its answer for the whole sync
        await deliverer.start()
        try:
            await wait_until_async(receiver.arrived.is_set, what="the receiver to be holding a request")
            outcome = await SyncEngine(db, box).run_new(integration_id, "FULL")
            assert outcome.state == "SUCCEEDED", outcome.error
            # the whole sync ran while the receiver still held the first request unanswered
            assert not hold.is_set() and receiver.received == []
        finally:
            hold.set()
            await deliverer.stop()
    with session_scope(db, readonly=True) as session:
        types = set(session.scalars(select(WebhookEvent.type)))
    assert {"integration-created", "data-changed", "sync-finished"} <= types


async def test_a_slow_receiver_times_out_and_is_retried_later(
    db: Engine, box: SecretBox, settings: Settings
) -> None:
    hold = threading.Event()
    with running_receiver(hold=hold) as receiver:
        with session_scope(db) as session:
            create_endpoint(session, box, receiver.url)
            integration = create_integration(
                session, box, tool="360learning", base_url="https://example.test", credentials={}
            )
            outbox.record_integration_created(session, integration, datetime.now(UTC))
        deliverer = WebhookDeliverer(db, box, settings, http_timeout=0.5)
        try:
            started = time.monotonic()
            assert await deliverer.deliver_due() == 1
            assert time.monotonic() - started < 5  # bounded by the timeout, not by the receiver
        finally:
            hold.set()
            await deliverer.aclose()
    with session_scope(db, readonly=True) as session:
        row = session.scalars(select(WebhookDelivery)).one()
    assert row.state == "PENDING" and row.attempts == 1
    assert row.last_error == "no answer within 0.5 s"
