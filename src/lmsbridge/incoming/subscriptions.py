"""Keeping an integration's webhook subscriptions at its LMS: created per event type when a public URL is
configured, healed at every sync (a deleted one is created again, an inactive one re-activated, a rotated
secret followed with the old one kept valid for the overlap), read back for missed events by DELTA
syncs, and removed when the integration is disabled or deleted.

Vendor-neutral: the LMS's Webhook API comes in as a ``SubscriptionApi``
(``Connector.events_in().subscriptions()``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from lmsbridge.connectors.base import RemoteEvent, SubscriptionApi
from lmsbridge.connectors.errors import PermissionMissing
from lmsbridge.crypto import SecretBox
from lmsbridge.incoming import store
from lmsbridge.store.schema import IncomingEndpoint, IncomingEvent, IncomingSubscription, Integration
from lmsbridge.store.transact import transact_async

log = logging.getLogger(__name__)

# the LMS signs with the previous secret too for 24 h after a rotation (the shipped connector's does)
LEGACY_SECRET_OVERLAP = timedelta(hours=24)
STATE_KEY = "incoming_webhooks"
ACTIVE, NO_PUBLIC_URL, MISSING_SCOPES = "ACTIVE", "NO_PUBLIC_URL", "MISSING_SCOPES"


@dataclass(frozen=True, slots=True)
class Status:
    """What the integration's details say about real-time updates."""

    state: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "detail": self.detail}


class SubscriptionKeeper:
    def __init__(
        self, db: Engine, box: SecretBox, public_url: str | None, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.box = box
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock = clock

    async def ensure(self, integration_id: str, api: SubscriptionApi, event_types: Sequence[str]) -> Status:
        """Subscriptions for every event type, healthy; the outcome is saved on the integration."""
        if self.public_url is None:
            status = Status(
                NO_PUBLIC_URL,
                "No public URL is configured (LMSBRIDGE_PUBLIC_URL): changes arrive with syncs only.",
            )
        else:
            try:
                await self._ensure(integration_id, api, event_types, self.public_url)
                status = Status(
                    ACTIVE, f"Subscribed to {len(event_types)} event types; changes arrive in seconds."
                )
            except PermissionMissing as exc:
                status = Status(
                    MISSING_SCOPES,
                    f"The credential lacks the scope {exc.scope} (webhooks:read, webhooks:write, "
                    "webhookSecrets:read are needed): changes arrive with syncs only.",
                )
        await transact_async(self.db, lambda s: _save_status(s, integration_id, status))
        return status

    async def _ensure(
        self, integration_id: str, api: SubscriptionApi, event_types: Sequence[str], public_url: str
    ) -> None:
        token = await transact_async(
            self.db, lambda s: store.ensure_endpoint(s, self.box, integration_id, self.clock())
        )
        url = store.incoming_url(public_url, token)
        remote = {sub.id: sub for sub in await api.list()}
        stored = {
            row.event_type: row for row in await transact_async(self.db, lambda s: _rows(s, integration_id))
        }
        for event_type in event_types:
            row = stored.get(event_type)
            current = remote.get(row.id) if row is not None else None
            if current is None:
                # ours from an answer that was lost, or a new one
                adopted = next(
                    (s for s in remote.values() if s.event_type == event_type and s.url == url), None
                )
                current = adopted or await api.create(event_type, url)
                secret = await api.secret(current.id)
                replace = partial(
                    self._replace, integration_id=integration_id, event_type=event_type, sub_id=current.id
                )
                await transact_async(self.db, partial(replace, secret=secret))
                continue
            if not current.active or current.url != url:
                await api.reactivate(current.id, url)
            secret = await api.secret(current.id)
            if secret != self.box.decrypt(row.secret_encrypted):  # type: ignore[union-attr]
                await transact_async(self.db, partial(self._rotated, sub_id=current.id, secret=secret))

    def _replace(
        self, session: Session, integration_id: str, event_type: str, sub_id: str, secret: str
    ) -> None:
        session.execute(
            delete(IncomingSubscription).where(
                IncomingSubscription.integration_id == integration_id,
                IncomingSubscription.event_type == event_type,
            )
        )
        session.add(
            IncomingSubscription(
                id=sub_id,
                integration_id=integration_id,
                event_type=event_type,
                secret_encrypted=self.box.encrypt(secret),
                created_at=self.clock(),
            )
        )

    def _rotated(self, session: Session, sub_id: str, secret: str) -> None:
        """The secret changed at the LMS: deliveries signed with the old one stay valid for the overlap."""
        row = session.get(IncomingSubscription, sub_id)
        if row is None:
            return
        row.legacy_secret_encrypted = row.secret_encrypted
        row.legacy_until = self.clock() + LEGACY_SECRET_OVERLAP
        row.secret_encrypted = self.box.encrypt(secret)

    async def read_missed(self, integration_id: str, api: SubscriptionApi) -> int:
        """Store the events each subscription's list holds since the last one read (deliveries that
        never arrived: lmsbridge was down or unreachable); returns how many were new."""
        rows = await transact_async(self.db, lambda s: _rows(s, integration_id))
        new = 0
        for row in rows:
            found = await api.events_since(row.id, row.events_read_until)
            now = self.clock()

            def save(
                session: Session,
                sub_id: str = row.id,
                found: Sequence[RemoteEvent] = found,
                now: datetime = now,
            ) -> int:
                added = sum(
                    store.store_event(session, integration_id, e.id, e.event_type, e.payload, now)
                    for e in found
                    if e.event_type
                )
                latest = max((e.created_at for e in found if e.created_at is not None), default=None)
                sub = session.get(IncomingSubscription, sub_id)
                if sub is not None and latest is not None:
                    sub.events_read_until = (
                        latest  # inclusive next time: an event of the same instant is stored once
                    )
                return added

            new += await transact_async(self.db, save)
        return new

    async def remove(self, integration_id: str, api: SubscriptionApi) -> None:
        """Delete the integration's subscriptions at the LMS, then its endpoint and their rows."""
        rows = await transact_async(self.db, lambda s: _rows(s, integration_id))
        for row in rows:
            await api.delete(row.id)
        await transact_async(self.db, lambda s: _forget(s, integration_id))


def _rows(session: Session, integration_id: str) -> list[IncomingSubscription]:
    rows = store.subscriptions(session, integration_id)
    for row in rows:
        session.expunge(row)
    return rows


def _forget(session: Session, integration_id: str) -> None:
    tables: list[type[IncomingSubscription | IncomingEndpoint | IncomingEvent]] = [
        IncomingSubscription,
        IncomingEndpoint,
    ]
    if session.get(Integration, integration_id) is None:  # deleted: its event history goes too
        tables.append(IncomingEvent)
    for table in tables:
        session.execute(delete(table).where(table.integration_id == integration_id))


def _save_status(session: Session, integration_id: str, status: Status) -> None:
    integration = session.get(Integration, integration_id)
    if integration is not None:
        integration.connector_state = {**(integration.connector_state or {}), STATE_KEY: status.to_dict()}


def status_of(integration: Integration) -> dict[str, Any] | None:
    """What the last sync found (None before the first one)."""
    value = (integration.connector_state or {}).get(STATE_KEY)
    return dict(value) if isinstance(value, dict) else None
