"""The sync schedule and its failure policy, as decisions on the store at a given time (the job clock).

FULL every ``full_interval``, DELTA every ``delta_interval``. A failed or partially failed run backs
off: the next try comes ``first_retry`` later, doubling with every consecutive failure, never later than
the run type's regular interval. After ``max_failures`` in a row the integration's scheduled syncs pause
(its record says why) until a forced sync or re-enabling resumes them. A credential that the LMS
refuses makes the integration INVALID (Kombo's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from lmsbridge import logs
from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import list_integrations
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.webhooks import outbox

FAILED_STATES = frozenset({"FAILED", "PARTIALLY_FAILED", "AUTHENTICATION_FAILED", "TIMED_OUT"})


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    full_interval: timedelta = timedelta(hours=10)
    delta_interval: timedelta = timedelta(hours=3)
    first_retry: timedelta = timedelta(minutes=1)
    max_failures: int = 5

    def interval(self, sync_type: str) -> timedelta:
        return self.full_interval if sync_type == "FULL" else self.delta_interval

    def retry_delay(self, failures: int, sync_type: str) -> timedelta:
        """The wait after ``failures`` consecutive failures (1-based): doubling, capped at the interval."""
        delay: timedelta = self.first_retry * 2 ** max(0, failures - 1)
        return min(delay, self.interval(sync_type))


def due_sync_type(
    session: Session, integration: Integration, now: datetime, policy: SchedulePolicy
) -> str | None:
    """The sync the schedule owes this integration now, if any."""
    if not integration.enabled or integration.paused_at is not None:
        return None
    if integration.next_sync_at is not None and now < integration.next_sync_at:
        return None  # backing off after a failure
    if sync_runs.active_run(session, integration.id) is not None:
        return None
    last_full = sync_runs.last_succeeded(session, integration.id, "FULL")
    if sync_runs.due_since(last_full, policy.full_interval, now):
        return "FULL"
    last = sync_runs.last_run(session, integration.id)
    if integration.consecutive_failures and last is not None:
        return last.type  # the retry of a failed run, after its backoff
    if sync_runs.due_since(last, policy.delta_interval, now):
        return "DELTA"
    return None


def queue_due_syncs(session: Session, now: datetime, policy: SchedulePolicy) -> list[SyncRun]:
    """Queue every sync the schedule owes at ``now``; returns the new runs."""
    queued = []
    for integration in list_integrations(session):
        sync_type = due_sync_type(session, integration, now, policy)
        if sync_type is None:
            continue
        run, already = sync_runs.enqueue(session, integration.id, sync_type, now)
        if not already:
            logs.log_schedule_decision(
                "queued",
                integration_id=integration.id,
                sync_type=sync_type,
                run_id=run.id,
                reason="a retry after its backoff" if integration.consecutive_failures else "due",
                consecutive_failures=integration.consecutive_failures,
            )
            queued.append(run)
    return queued


def record_outcome(session: Session, run: SyncRun, now: datetime, policy: SchedulePolicy) -> None:
    """Apply the failure policy to the integration of a run that just ended."""
    integration = session.get(Integration, run.integration_id)
    if integration is None or run.state not in FAILED_STATES | {"SUCCEEDED"}:
        return  # deleted meanwhile, or cancelled (a cancel is no failure)
    before = outbox.state_snapshot(integration)
    if run.state == "SUCCEEDED":
        integration.consecutive_failures = 0
        integration.last_sync_error = None
        integration.next_sync_at = None
        if integration.status == "INVALID":
            integration.status = "ACTIVE"
    else:
        failures = integration.consecutive_failures + 1
        integration.consecutive_failures = failures
        integration.last_sync_error = run.error or "; ".join(str(w) for w in run.warnings or []) or run.state
        integration.next_sync_at = now + policy.retry_delay(failures, run.type)
        if run.state == "AUTHENTICATION_FAILED":
            integration.status = "INVALID"
        logs.log_schedule_decision(
            "backed_off",
            integration_id=integration.id,
            sync_type=run.type,
            run_id=run.id,
            reason=f"the run ended {run.state}: {integration.last_sync_error}",
            next_sync_at=integration.next_sync_at,
            consecutive_failures=failures,
        )
        if failures >= policy.max_failures and integration.paused_at is None:
            integration.paused_at = now
            integration.pause_reason = (
                f"scheduled syncs paused after {failures} consecutive failed syncs; "
                f"last error: {integration.last_sync_error}"
            )
            logs.log_schedule_decision(
                "paused",
                integration_id=integration.id,
                reason=integration.pause_reason,
                consecutive_failures=failures,
            )
    integration.updated_at = now
    session.flush()
    changed = outbox.record_state_change_since(session, integration, before, now)
    if changed is None and integration.paused_at == now:
        outbox.record_integration_state_changed(session, integration, now)  # paused: said once


def resume(integration: Integration, now: datetime) -> None:
    """A forced sync or re-enabling: the schedule runs again, from a clean failure count."""
    integration.paused_at = None
    integration.pause_reason = None
    integration.next_sync_at = None
    integration.consecutive_failures = 0
    integration.updated_at = now
