"""Which jobs the store asks for: the relay from stored work (queued sync runs, due action tasks, due
webhook deliveries) to jobs.

Work is written to the store in the transaction that decides it (a force-sync's run, an enroll's task,
an event's deliveries), then deferred as a job. Whatever was not deferred — the process stopped in
between, the job store is in memory and the process restarted, or an API-only process wrote it — is
found here by the dispatcher's next pass. Jobs are idempotent and carry locks, so a job deferred twice
runs once and the second finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from lmsbridge.actions.runner import ActionRunner
from lmsbridge.incoming import store as incoming
from lmsbridge.store import sync_runs
from lmsbridge.webhooks import delivery

# task names (the job store keeps them: renaming one strands its queued jobs)
SYNC = "lmsbridge.sync"
COURSE_UPSERT = "lmsbridge.course_upsert"
STATS_IMPORT = "lmsbridge.stats_import"
WEBHOOK_DELIVERY = "lmsbridge.webhook_delivery"
INCOMING_EVENTS = "lmsbridge.incoming_events"
RETIRE_SUBSCRIPTIONS = "lmsbridge.retire_subscriptions"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job to defer. At most one job of a ``lock`` runs at a time; at most one job of a
    ``queueing_lock`` waits to run (a second is refused while one waits)."""

    task: str
    args: dict[str, str] = field(default_factory=dict)
    lock: str | None = None
    queueing_lock: str | None = None


def sync_job(run_id: str, integration_id: str) -> JobSpec:
    # one sync per integration at a time, and at most one more waiting
    key = f"sync:{integration_id}"
    return JobSpec(SYNC, {"run_id": run_id}, lock=key, queueing_lock=key)


def course_upsert_job(task_id: str) -> JobSpec:
    key = f"action:{task_id}"
    return JobSpec(COURSE_UPSERT, {"task_id": task_id}, lock=key, queueing_lock=key)


def stats_import_job(integration_id: str) -> JobSpec:
    key = f"stats:{integration_id}"
    return JobSpec(STATS_IMPORT, {"integration_id": integration_id}, lock=key, queueing_lock=key)


def delivery_job(delivery_id: str) -> JobSpec:
    key = f"delivery:{delivery_id}"
    return JobSpec(WEBHOOK_DELIVERY, {"delivery_id": delivery_id}, lock=key, queueing_lock=key)


def incoming_job(integration_id: str) -> JobSpec:
    # one batch of an integration's received events at a time, and one more waiting for new arrivals
    key = f"incoming:{integration_id}"
    return JobSpec(INCOMING_EVENTS, {"integration_id": integration_id}, lock=key, queueing_lock=key)


def retire_job(integration_id: str) -> JobSpec:
    key = f"retire:{integration_id}"
    return JobSpec(RETIRE_SUBSCRIPTIONS, {"integration_id": integration_id}, lock=key, queueing_lock=key)


def due_jobs(session: Session, now: datetime, stale_after: timedelta, actions: ActionRunner) -> list[JobSpec]:
    """Every job the store asks for at ``now``: queued sync runs and running ones whose process stopped
    beating (``stale_after``), due action tasks, due webhook deliveries, received events to apply."""
    runs = sync_runs.claimable(session, now - stale_after, limit=500)
    jobs = [sync_job(run.id, run.integration_id) for run in runs]
    jobs += [course_upsert_job(task_id) for task_id in actions.due_upserts(session, now)]
    jobs += [stats_import_job(integration_id) for integration_id in actions.ready_integrations(session, now)]
    jobs += [delivery_job(delivery_id) for delivery_id in delivery.due_ids(session, now)]
    jobs += [incoming_job(integration_id) for integration_id in incoming.pending_integrations(session)]
    jobs += [retire_job(integration_id) for integration_id in incoming.due_retirements(session, now)]
    return jobs
