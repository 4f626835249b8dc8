"""The incoming side's rows: each integration's receiving endpoint (a secret token, found by its hash),
the subscriptions it holds at the LMS (encrypted secrets), and the received events (stored once)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id
from lmsbridge.store.schema import IncomingEndpoint, IncomingEvent, IncomingSubscription, Integration

PENDING, APPLIED, IGNORED, FAILED = "PENDING", "APPLIED", "IGNORED", "FAILED"
INCOMING_PATH = "/v1/incoming/"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def incoming_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{INCOMING_PATH}{token}"


def ensure_endpoint(session: Session, box: SecretBox, integration_id: str, now: datetime) -> str:
    """The integration's receiving token (made on first use)."""
    row = session.get(IncomingEndpoint, integration_id)
    if row is not None:
        return box.decrypt(row.token_encrypted)
    token = secrets.token_urlsafe(32)
    session.add(
        IncomingEndpoint(
            integration_id=integration_id,
            token_hash=token_hash(token),
            token_encrypted=box.encrypt(token),
            created_at=now,
        )
    )
    session.flush()
    return token


def integration_of_token(session: Session, token: str) -> str | None:
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(IncomingEndpoint.integration_id).where(IncomingEndpoint.token_hash == token_hash(token))
    )


@dataclass(frozen=True, slots=True)
class SubscriptionSecrets:
    subscription_id: str
    event_type: str
    secrets: tuple[str, ...]  # current first, then the legacy one while it is still valid


def signing_secrets(
    session: Session, box: SecretBox, integration_id: str, now: datetime
) -> list[SubscriptionSecrets]:
    out = []
    rows = session.scalars(
        select(IncomingSubscription).where(IncomingSubscription.integration_id == integration_id)
    )
    for row in rows:
        keys = [box.decrypt(row.secret_encrypted)]
        if row.legacy_secret_encrypted and row.legacy_until is not None and now < row.legacy_until:
            keys.append(box.decrypt(row.legacy_secret_encrypted))
        out.append(SubscriptionSecrets(row.id, row.event_type, tuple(keys)))
    return out


def subscriptions(session: Session, integration_id: str) -> list[IncomingSubscription]:
    return list(
        session.scalars(
            select(IncomingSubscription)
            .where(IncomingSubscription.integration_id == integration_id)
            .order_by(IncomingSubscription.event_type)
        )
    )


def retire(session: Session, integration: Integration, now: datetime) -> None:
    """The integration is disabled or deleted: its subscriptions are removed at the LMS by a job (with
    the connection kept on the endpoint row, as the integration row may be gone by then); events not
    applied yet are dropped."""
    session.execute(
        delete(IncomingEvent)
        .where(IncomingEvent.integration_id == integration.id, IncomingEvent.state == PENDING)
        .execution_options(synchronize_session=False)
    )
    endpoint = session.get(IncomingEndpoint, integration.id)
    if endpoint is None:
        return
    endpoint.retire_at = now
    endpoint.retired_connection = {
        "tool": integration.tool,
        "base_url": integration.base_url,
        "settings": dict(integration.settings or {}),
        "credentials_encrypted": integration.credentials_encrypted,
    }


def unretire(session: Session, integration_id: str) -> None:
    """Enabled again before the removal ran: the next sync heals what is left."""
    endpoint = session.get(IncomingEndpoint, integration_id)
    if endpoint is not None:
        endpoint.retire_at = None
        endpoint.retired_connection = None


def due_retirements(session: Session, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(IncomingEndpoint.integration_id).where(
                IncomingEndpoint.retire_at.is_not(None), IncomingEndpoint.retire_at <= now
            )
        )
    )


def retired_integration(session: Session, integration_id: str) -> Integration | None:
    """A detached stand-in of a retired integration, enough to open its connector."""
    endpoint = session.get(IncomingEndpoint, integration_id)
    if endpoint is None or endpoint.retire_at is None or not endpoint.retired_connection:
        return None
    kept = endpoint.retired_connection
    return Integration(
        id=integration_id,
        tool=str(kept["tool"]),
        base_url=str(kept["base_url"]),
        settings=dict(kept.get("settings") or {}),
        credentials_encrypted=str(kept["credentials_encrypted"]),
    )


def retry_retirement(session: Session, integration_id: str, at: datetime) -> None:
    endpoint = session.get(IncomingEndpoint, integration_id)
    if endpoint is not None and endpoint.retire_at is not None:
        endpoint.retire_at = at


def store_event(
    session: Session,
    integration_id: str,
    webhook_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """Store one event as PENDING; False when it was stored before (a redelivery: applied once)."""
    row = {
        "id": random_id(),
        "integration_id": integration_id,
        "webhook_id": webhook_id,
        "type": event_type,
        "payload": payload,
        "received_at": now,
        "state": PENDING,
        "attempts": 0,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(
        insert(IncomingEvent)
        .values(row)
        .on_conflict_do_nothing(index_elements=["integration_id", "webhook_id"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def pending_integrations(session: Session) -> list[str]:
    """Integrations with events to apply (the dispatcher's question)."""
    return list(
        session.scalars(select(IncomingEvent.integration_id).where(IncomingEvent.state == PENDING).distinct())
    )


def pending_events(session: Session, integration_id: str, limit: int) -> list[IncomingEvent]:
    return list(
        session.scalars(
            select(IncomingEvent)
            .where(IncomingEvent.integration_id == integration_id, IncomingEvent.state == PENDING)
            .order_by(IncomingEvent.received_at, IncomingEvent.id)
            .limit(limit)
        )
    )


def finish_events(
    session: Session, ids: Sequence[str], state: str, now: datetime, error: str | None = None
) -> None:
    if ids:
        session.execute(
            update(IncomingEvent)
            .where(IncomingEvent.id.in_(list(ids)))
            .values(state=state, applied_at=now, error=error, attempts=IncomingEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )


def retry_events(session: Session, ids: Sequence[str], error: str) -> None:
    if ids:
        session.execute(
            update(IncomingEvent)
            .where(IncomingEvent.id.in_(list(ids)))
            .values(error=error, attempts=IncomingEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )


def give_up_events(session: Session, ids: Sequence[str], max_attempts: int, now: datetime) -> None:
    if ids:
        session.execute(
            update(IncomingEvent)
            .where(IncomingEvent.id.in_(list(ids)), IncomingEvent.attempts >= max_attempts)
            .values(state=FAILED, applied_at=now)
            .execution_options(synchronize_session=False)
        )


def reapply_during(session: Session, integration_id: str, since: datetime, until: datetime) -> int:
    """Events applied while a sync ran (``since`` to ``until``) are applied again: the sync may have
    written what it read before them over what they fetched (the read-back makes a second apply exact)."""
    result = session.execute(
        update(IncomingEvent)
        .where(
            IncomingEvent.integration_id == integration_id,
            IncomingEvent.state == APPLIED,
            IncomingEvent.applied_at >= since,
            IncomingEvent.applied_at <= until,
        )
        .values(state=PENDING)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune_events(session: Session, before: datetime) -> int:
    """Delete received events handled before ``before`` (pending ones stay); the event lists of the
    subscriptions are read by time, not from these rows, so nothing else needs them."""
    result = session.execute(
        delete(IncomingEvent)
        .where(IncomingEvent.state != PENDING, IncomingEvent.received_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
