"""The outbox: webhook events written inside the caller's transaction, fanned out to matching endpoints.

Whoever changes something calls these with its own session, so the event commits (or rolls back)
together with the change; the deliverer sends it later. Nothing here does I/O beyond that session.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.store.schema import Integration, PendingChange, WebhookDelivery, WebhookEndpoint, WebhookEvent
from lmsbridge.webhooks import payloads
from lmsbridge.webhooks.endpoints import wants

PENDING = "PENDING"
StateSnapshot = tuple[str, str, str]


def emit(
    session: Session, event_type: str, integration_id: str | None, data: dict[str, Any], now: datetime
) -> str:
    """Store one event and one PENDING delivery per enabled endpoint that wants it; returns the event id
    (the ``id`` receivers see, the same on every retry)."""
    if event_type not in payloads.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = random_id()
    session.add(
        WebhookEvent(
            id=event_id,
            type=event_type,
            integration_id=integration_id,
            payload=payloads.envelope(event_id, event_type, data),
            created_at=now,
        )
    )
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None)))
    for endpoint in endpoints:
        if wants(endpoint, event_type):
            session.add(
                WebhookDelivery(
                    id=random_id(),
                    event_id=event_id,
                    endpoint_id=endpoint.id,
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    session.flush()
    return event_id


# ---- data-changed: coalesced per integration and model until flushed ------------------------------


def record_changes(session: Session, integration_id: str, models: Iterable[str], now: datetime) -> None:
    """Remember that these models (unified names like "users", or Kombo's "lms_users") changed; the next
    ``flush_data_changed`` of the integration reports them once."""
    names = sorted({payloads.kombo_model_name(m) for m in models})
    if not names:
        return
    rows = [{"integration_id": integration_id, "model": name, "changed_at": now} for name in names]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # DO NOTHING: a model already pending stays pending (it keeps the time of its first change); two
    # writers recording the same model at once must not fail on the primary key
    statement = (
        insert(PendingChange).values(rows).on_conflict_do_nothing(index_elements=["integration_id", "model"])
    )
    session.execute(statement)


def flush_data_changed(session: Session, integration_id: str, now: datetime) -> str | None:
    """Turn the integration's pending changes into ONE data-changed event; None when nothing changed."""
    # DELETE … RETURNING claims the pending rows atomically: two concurrent flushes never report a
    # model twice, and a change recorded after this point waits for the next flush
    claimed = session.execute(
        delete(PendingChange)
        .where(PendingChange.integration_id == integration_id)
        .returning(PendingChange.model)
        .execution_options(synchronize_session=False)
    )
    models = sorted(set(claimed.scalars()))
    if not models:
        return None
    integration = session.get(Integration, integration_id)
    if integration is None:
        return None  # deleted meanwhile: integration-deleted told the receivers
    return emit(
        session, payloads.DATA_CHANGED, integration_id, payloads.data_changed(integration, models), now
    )


def record_data_changed(
    session: Session, integration_id: str, models: Iterable[str], now: datetime
) -> str | None:
    """``record_changes`` then ``flush_data_changed``: for a change that should be reported at once (an
    action that wrote data, a sync that finished)."""
    record_changes(session, integration_id, models, now)
    return flush_data_changed(session, integration_id, now)


# ---- sync-finished ---------------------------------------------------------------------------------


def log_url(public_base_url: str, log_id: str) -> str:
    """Where a logged interaction is served (``GET /v1/logs/{id}``)."""
    return f"{public_base_url.rstrip('/')}/v1/logs/{log_id}"


def record_sync_finished(
    session: Session,
    integration_id: str,
    *,
    sync_id: str,
    state: str,
    started_at: datetime,
    ended_at: datetime,
    log_url: str,
    now: datetime,
) -> str | None:
    """One sync-finished event for every finished sync (any terminal state); None when the integration
    no longer exists."""
    integration = session.get(Integration, integration_id)
    if integration is None:
        return None
    data = payloads.sync_finished(
        integration, sync_id=sync_id, state=state, started_at=started_at, ended_at=ended_at, log_url=log_url
    )
    return emit(session, payloads.SYNC_FINISHED, integration_id, data, now)


# ---- integration lifecycle -------------------------------------------------------------------------


def record_integration_created(session: Session, integration: Integration, now: datetime) -> str:
    return emit(
        session, payloads.INTEGRATION_CREATED, integration.id, payloads.integration_created(integration), now
    )


def record_integration_deleted(session: Session, integration: Integration, now: datetime) -> str:
    """Call before deleting the row (the payload describes it). Pending data-changed is dropped."""
    session.execute(
        delete(PendingChange)
        .where(PendingChange.integration_id == integration.id)
        .execution_options(synchronize_session=False)
    )
    data = payloads.integration_deleted(integration, now)
    return emit(session, payloads.INTEGRATION_DELETED, integration.id, data, now)


def record_integration_state_changed(session: Session, integration: Integration, now: datetime) -> str:
    """The integration's state, setup or QA status changed (the caller knows it did)."""
    data = payloads.integration_state_changed(integration, integration.updated_at or now)
    return emit(session, payloads.INTEGRATION_STATE_CHANGED, integration.id, data, now)


def state_snapshot(integration: Integration) -> StateSnapshot:
    """What integration-state-changed reports: take one before a change, pass it to
    ``record_state_change_since`` after."""
    return (payloads.public_state(integration), integration.setup_status, integration.qa_status)


def record_state_change_since(
    session: Session, integration: Integration, before: StateSnapshot, now: datetime
) -> str | None:
    """An integration-state-changed event if state, setup or QA status differ from ``before``."""
    if state_snapshot(integration) == before:
        return None
    return record_integration_state_changed(session, integration, now)


# ---- the end of a sync (called by the sync engine in the transaction that finishes the run) ---------


def integration_snapshot(session: Session, integration_id: str) -> StateSnapshot | None:
    """The integration's reported state before the run's end changes it (None when it is gone)."""
    integration = session.get(Integration, integration_id)
    return state_snapshot(integration) if integration is not None else None


def record_sync_end(
    session: Session,
    integration_id: str,
    *,
    sync_id: str,
    state: str,
    changed_models: Iterable[str],
    started_at: datetime,
    ended_at: datetime,
    log_url: str,
    state_before: StateSnapshot | None,
    now: datetime,
) -> None:
    """data-changed (only if the run changed something), sync-finished (always), and
    integration-state-changed (if the run changed state, setup or QA status)."""
    integration = session.get(Integration, integration_id)
    if integration is None:
        return
    record_changes(session, integration_id, changed_models, now)
    flush_data_changed(session, integration_id, now)
    record_sync_finished(
        session,
        integration_id,
        sync_id=sync_id,
        state=state,
        started_at=started_at,
        ended_at=ended_at,
        log_url=log_url,
        now=now,
    )
    if state_before is not None:
        record_state_change_since(session, integration, state_before, now)
