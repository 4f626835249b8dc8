"""Applying received webhook events: the pending events of one integration, read back through the
connector as one batch, written by the sync's own page writers (content hashes, ``changed_at``), and
announced with ``data-changed`` in the same transaction when anything really changed.

Events and syncs may interleave: every event reads the LMS's current state, so applying it late, twice or
out of order writes the truth of that moment. What a sync read before an event and writes after it is put
right by ``incoming.store.reapply_during`` at the sync's end (the runtime calls it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.connectors.base import BadEvent, Connector, Dto
from lmsbridge.connectors.errors import ConnectorError
from lmsbridge.incoming import store
from lmsbridge.store.schema import Integration
from lmsbridge.store.transact import transact_async
from lmsbridge.store.upsert import UpsertCounts
from lmsbridge.sync.pages import PageContext, write_page
from lmsbridge.sync.prepare import prepare_page
from lmsbridge.webhooks import outbox

log = logging.getLogger(__name__)
# events applied per job: one read-back plan for all of them
BATCH = 500
# an event whose read-back keeps failing is given up after this many jobs (a DELTA sees its change)
MAX_ATTEMPTS = 5


@dataclass
class Applied:
    """What one batch did."""

    events: int = 0
    changed_models: list[str] = field(default_factory=list)
    # bulk operations the batch saw end: id → status
    ended_operations: dict[str, str] = field(default_factory=dict)
    calls: int = 0


class IncomingApplier:
    """Applies one integration's pending events per call (the job holds the integration's lock, so two
    batches of one integration never run at once)."""

    def __init__(
        self,
        db: Engine,
        connector_for: Callable[[str], Awaitable[Connector]],
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.connector_for = connector_for
        self.clock = clock

    async def apply(self, integration_id: str) -> Applied:
        pending = await transact_async(self.db, lambda s: _load(s, integration_id, self.clock()))
        if pending is None:
            return Applied()
        connector = await self.connector_for(integration_id)
        events_in = connector.events_in()
        if events_in is None:  # the connector stopped taking events: a sync reads the changes
            ids = [event_id for event_id, _, _ in pending]
            now = self.clock()
            await transact_async(self.db, lambda s: store.finish_events(s, ids, store.IGNORED, now))
            return Applied(len(pending))
        batch = events_in.batch()
        useful: list[str] = []
        ignored: list[str] = []
        bad: list[tuple[str, str]] = []
        for event_id, event_type, payload in pending:
            try:
                (useful if batch.add(event_type, payload) else ignored).append(event_id)
            except BadEvent as exc:
                bad.append((event_id, str(exc)))
        pages: Mapping[str, list[Dto]] = {}
        calls = 0
        if batch.calls_needed:
            before = connector.api_calls
            try:
                pages = await batch.read_back()
            except ConnectorError as exc:
                log.info("incoming events of %s: read-back failed, retried later: %s", integration_id, exc)
                error, now = str(exc), self.clock()
                await transact_async(self.db, lambda s: _retry_later(s, useful, error, now))
                raise
            calls = connector.api_calls - before
        now = self.clock()

        def write(session: Session) -> list[str]:
            changed = _write(session, integration_id, connector, pages, now)
            outbox.record_data_changed(session, integration_id, changed, now)
            store.finish_events(session, useful, store.APPLIED, now)
            store.finish_events(session, ignored, store.IGNORED, now)
            for event_id, reason in bad:
                store.finish_events(session, [event_id], store.FAILED, now, error=reason)
            return changed

        changed = await transact_async(self.db, write)
        return Applied(len(pending), changed, dict(batch.ended_operations), calls)


def _load(session: Session, integration_id: str, now: datetime) -> list[tuple[str, str, Any]] | None:
    rows = store.pending_events(session, integration_id, BATCH)
    integration = session.get(Integration, integration_id)
    if integration is None or not integration.enabled:
        # nothing is written for a disabled integration: the sync after enabling it reads everything
        store.finish_events(session, [r.id for r in rows], store.IGNORED, now)
        return None
    return [(r.id, r.type, r.payload) for r in rows] or None


def _retry_later(session: Session, ids: list[str], error: str, now: datetime) -> None:
    """The events stay PENDING for the next job; after ``MAX_ATTEMPTS`` they are given up (FAILED)."""
    store.retry_events(session, ids, error)
    store.give_up_events(session, ids, MAX_ATTEMPTS, now)


def _write(
    session: Session, integration_id: str, connector: Connector, pages: Mapping[str, list[Dto]], now: datetime
) -> list[str]:
    """The read-back pages through the sync's page writers; the models that really changed."""
    ctx = PageContext(integration_id, None, now, {})
    counts: dict[str, UpsertCounts] = {}
    for stream_name, items in pages.items():
        if items:
            stream = connector.stream(stream_name)
            prepared = prepare_page(stream.map_page, integration_id, items, ctx.map_context())
            counts.update(write_page(session, ctx, stream, prepared))
    return sorted(model for model, c in counts.items() if c.created or c.changed)
