"""What the API, the dashboard and the CLI ask of an integration's background work, in one place: force a
sync (which resumes a paused schedule), cancel a sync, enable (resume) or disable (cancel its syncs),
delete. Each runs in the caller's transaction and announces itself by webhook where Kombo does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from lmsbridge.incoming import store as incoming
from lmsbridge.jobs import schedule
from lmsbridge.store import integrations as repo
from lmsbridge.store import sync_runs
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.webhooks import outbox


class IntegrationDisabled(Exception):
    """A disabled integration is not synced; enable it first."""


def force_sync(
    session: Session, integration: Integration, sync_type: str, now: datetime
) -> tuple[SyncRun, bool]:
    """Queue a sync (or join the queued or running one); returns (run, already_queued)."""
    if not integration.enabled:
        raise IntegrationDisabled("The integration is disabled; enable it before syncing.")
    schedule.resume(integration, now)  # a forced sync also resumes a paused schedule
    return sync_runs.enqueue(session, integration.id, sync_type, now)


def cancel_sync(session: Session, run_id: str, now: datetime) -> SyncRun | None:
    """Cancel a queued run at once, a running one at its next heartbeat; None when unknown."""
    return sync_runs.request_cancel(session, run_id, now)


def set_enabled(session: Session, integration: Integration, value: bool, now: datetime) -> None:
    """Enable or disable, announced by integration-state-changed. Re-enabling resumes a paused schedule;
    disabling cancels the integration's syncs, as Kombo does."""
    before = outbox.state_snapshot(integration)
    repo.set_enabled(session, integration.id, value, now)
    if value:
        schedule.resume(integration, now)
        incoming.unretire(session, integration.id)
    else:
        sync_runs.cancel_active(session, integration.id, now)
        incoming.retire(session, integration, now)  # its LMS webhook subscriptions go too
    outbox.record_state_change_since(session, integration, before, now)


def delete(session: Session, integration: Integration, now: datetime) -> None:
    """Delete with all data, announced by integration-deleted."""
    outbox.record_integration_deleted(session, integration, now)
    incoming.retire(session, integration, now)  # its LMS webhook subscriptions are removed by a job
    repo.delete_integration(session, integration.id)
