"""The long-lived parts of one lmsbridge process, built once from settings and shared by the API app, the
worker and the CLI: database engine, secret box, sync engine, action runner, webhook deliverer, and the
job system that runs them (``lmsbridge.jobs``)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge import metrics
from lmsbridge.actions.env import ActionOptions
from lmsbridge.actions.runner import ActionRunner
from lmsbridge.clock import utcnow
from lmsbridge.connections import open_connector
from lmsbridge.connectors.base import Connector, StoredConnection
from lmsbridge.connectors.budget import BUDGETS
from lmsbridge.connectors.registry import connector_class
from lmsbridge.crypto import SecretBox
from lmsbridge.features.sync_hooks import feature_hooks
from lmsbridge.incoming import store as incoming_store
from lmsbridge.incoming.subscriptions import ACTIVE, SubscriptionKeeper
from lmsbridge.jobs import dispatch
from lmsbridge.jobs import schedule as sync_schedule
from lmsbridge.jobs.dispatch import JobSpec
from lmsbridge.jobs.system import JobSystem, apply_job_schema
from lmsbridge.netguard import GuardedTransport
from lmsbridge.settings import Settings
from lmsbridge.shared_budgets import PostgresRateSchedule
from lmsbridge.store.retention import HistoryRetention, anonymize_expired, prune_history
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.store.transact import transact_async
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from lmsbridge.sync.incoming import IncomingApplier
from lmsbridge.webhooks.delivery import WebhookDeliverer, oldest_pending_age

log = logging.getLogger(__name__)

# a failed removal of a retired integration's subscriptions is tried again this much later
RETIRE_RETRY = timedelta(minutes=1)

# Held open for the life of the process that won it: the OS releases the lock when that process ends.
_background_lock: IO[bytes] | None = None


def claim_background_services(settings: Settings) -> bool:
    """On SQLite, True in exactly one of several processes sharing ``settings.data_dir``: that one works
    (its job store is in its memory). A process that replaces a dead winner claims the work again."""
    global _background_lock
    if _background_lock is not None:
        return True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = (settings.data_dir / "background.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _background_lock = handle
    return True


def share_rate_budgets(settings: Settings) -> PostgresRateSchedule | None:
    """On PostgreSQL, every process reserves LMS calls from the database (one budget per company
    across processes and machines); on SQLite the process's own schedule is the only one."""
    if settings.is_sqlite:
        return None
    schedule = PostgresRateSchedule(settings.resolved_database_url)
    BUDGETS.share_through(schedule)
    return schedule


class Runtime:
    """``start()`` opens the job system (and, with ``work=True``, runs jobs: syncs on schedule and on
    demand, action tasks, webhook deliveries); ``stop()`` ends it. A stopped process loses nothing: runs,
    tasks and deliveries are stored, and the next working process dispatches them again."""

    def __init__(
        self,
        settings: Settings,
        db: Engine,
        *,
        work: bool = True,
        schedule: bool = True,
        concurrency: int | None = None,
        action_options: ActionOptions | None = None,
        connector_options: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.box = SecretBox.from_settings(settings)
        stale_after = timedelta(seconds=settings.worker_stalled_seconds)
        self.sync_engine = SyncEngine(
            db,
            self.box,
            options=SyncOptions(
                reads_per_second=settings.remote_reads_per_second,
                writes_per_second=settings.remote_writes_per_second,
                public_base_url=settings.public_base_url,
                stale_after=stale_after,
                on_run_end=self._after_sync,
                # scope test before every sync, per-model tests (QA) after every FULL sync
                **feature_hooks(settings),
            ),
            clock=clock,
            connector_factory=self._sync_connector,
        )
        self.policy = sync_schedule.SchedulePolicy(
            full_interval=timedelta(hours=settings.full_sync_interval_hours),
            delta_interval=timedelta(hours=settings.delta_sync_interval_hours),
            first_retry=timedelta(minutes=settings.sync_retry_first_minutes),
            max_failures=settings.sync_max_consecutive_failures,
        )
        options = action_options or ActionOptions(stale_after_s=settings.worker_stalled_seconds)
        self.actions = ActionRunner(
            db,
            self.box,
            settings,
            options=options,
            connector_options=connector_options,
            clock=clock,
        )
        # received webhook events are read back with the actions' clients (one per integration)
        self.incoming = IncomingApplier(db, self.actions.env.remote.connector, clock)
        self.subscriptions = SubscriptionKeeper(db, self.box, settings.public_url, clock)
        # a receiver's address is checked at every connection, not only when its URL was entered
        guarded = GuardedTransport(allow_private=settings.allow_private_hosts)
        self.deliverer = WebhookDeliverer(db, self.box, settings, clock=clock, transport=guarded)
        self.jobs = JobSystem(
            settings,
            context={"runtime": self},
            due_jobs=self._due_jobs,
            work=work,
            concurrency=concurrency,
        )
        # False: the periodic schedule queues nothing (a foreground `lmsbridge sync`, tests)
        self.schedules = schedule
        self._shared_budgets: PostgresRateSchedule | None = None
        self._started = False

    def _sync_connector(
        self, integration: Integration, connection: StoredConnection, options: SyncOptions
    ) -> Connector:
        """A sync's connector with the process's timeouts and private-host rule (its own kind)."""
        cls = connector_class(integration.tool)
        return cls.from_connection(
            connection,
            reads_per_second=options.reads_per_second,
            writes_per_second=options.writes_per_second,
            **cls.background_options(self.settings),
        )

    async def start(self) -> None:
        if self._started:
            return
        self._shared_budgets = share_rate_budgets(self.settings)
        await asyncio.to_thread(apply_job_schema, self.settings, self.db)
        await self.jobs.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        # each part stops even if another one fails to
        for close in (self.jobs.stop, self.actions.aclose, self.deliverer.aclose):
            with contextlib.suppress(Exception):
                await close()
        if self._shared_budgets is not None:
            BUDGETS.stop_sharing(self._shared_budgets)
            self._shared_budgets.close()
        self._started = False

    # ---- what the API and the CLI ask of the background -------------------------------------------

    def wake(self) -> None:
        """Stored work was just written by this process: dispatch it now rather than at the next poll."""
        self.jobs.wake()

    # ---- what the jobs do (lmsbridge.jobs.tasks) ----------------------------------------------------

    async def _due_jobs(self) -> list[JobSpec]:
        now = self.clock()
        stale_after = self.sync_engine.options.stale_after

        def work(session: Session) -> list[JobSpec]:
            metrics.WEBHOOK_BACKLOG_OLDEST_AGE.set(oldest_pending_age(session, now))
            return dispatch.due_jobs(session, now, stale_after, self.actions)

        return await transact_async(self.db, work)

    async def run_sync(self, run_id: str) -> None:
        await self._keep_subscriptions(run_id)
        try:
            outcome = await self.sync_engine.execute(run_id)
        except RuntimeError as exc:  # finished, or still running in a live process
            log.info("sync %s not run: %s", run_id, exc)
            return
        if outcome.started_at is not None and outcome.ended_at is not None:
            # what the sync read before an event arrived may have overwritten what the event fetched
            started, ended = outcome.started_at, outcome.ended_at
            await transact_async(
                self.db, lambda s: incoming_store.reapply_during(s, outcome.integration_id, started, ended)
            )
        self.jobs.wake()  # its webhooks are due now

    async def apply_incoming(self, integration_id: str) -> None:
        """Apply the integration's received webhook events (one batch); a failed read-back leaves them
        pending for the next job."""
        try:
            applied = await self.incoming.apply(integration_id)
        except Exception as exc:
            log.info("incoming events of %s not applied yet: %s", integration_id, exc)
            return
        if applied.events:
            log.info(
                "incoming events of %s applied: %d events, %d calls, changed %s",
                integration_id,
                applied.events,
                applied.calls,
                applied.changed_models or "nothing",
            )
        for operation_id in applied.ended_operations:
            self.actions.env.operation_ended(operation_id)
        self.jobs.wake()  # data-changed is due, and events that came in meanwhile

    async def _keep_subscriptions(self, run_id: str) -> None:
        """Before a sync: the integration's webhook subscriptions are made or healed, and a DELTA reads
        their event lists for deliveries that never arrived. A failure here never fails the sync."""

        def load(session: Session) -> tuple[str, str] | None:
            run = session.get(SyncRun, run_id)
            return (run.integration_id, run.type) if run and run.state in ("QUEUED", "RUNNING") else None

        found = await transact_async(self.db, load)
        if found is None:
            return
        integration_id, sync_type = found
        try:
            events_in = (await self.actions.env.remote.connector(integration_id)).events_in()
            if events_in is None:
                return
            api = events_in.subscriptions()
            status = await self.subscriptions.ensure(integration_id, api, events_in.subscribed_events)
            if status.state == ACTIVE and sync_type == "DELTA":
                missed = await self.subscriptions.read_missed(integration_id, api)
                if missed:
                    log.info(
                        "%d webhook events of %s were read back (never delivered)", missed, integration_id
                    )
                    self.jobs.wake()
        except Exception as exc:
            log.warning("webhook subscriptions of %s not kept: %s", integration_id, exc)

    async def retire_subscriptions(self, integration_id: str) -> None:
        """The integration was disabled or deleted: remove its subscriptions at the LMS."""
        stand_in = await transact_async(
            self.db, lambda s: incoming_store.retired_integration(s, integration_id)
        )
        if stand_in is None:
            return
        try:
            async with open_connector(self.box, stand_in, self.settings) as connector:
                events_in = connector.events_in()
                if events_in is not None:
                    await self.subscriptions.remove(integration_id, events_in.subscriptions())
        except Exception as exc:
            log.info("webhook subscriptions of %s not removed yet: %s", integration_id, exc)
            later = self.clock() + RETIRE_RETRY
            await transact_async(self.db, lambda s: incoming_store.retry_retirement(s, integration_id, later))

    async def run_course_upsert(self, task_id: str) -> None:
        await self.actions.run_upsert(task_id)
        self.jobs.wake()  # data-changed of the confirmed upsert is due now

    def _after_sync(self, session: Session, run_id: str, now: datetime) -> None:
        run = session.get(SyncRun, run_id, populate_existing=True)
        if run is not None:
            sync_schedule.record_outcome(session, run, now, self.policy)

    async def run_stats_import(self, integration_id: str) -> None:
        await self.actions.run_stats(integration_id)
        # calls that came in meanwhile are dispatched at once (this job's lock ends with it)
        self.jobs.wake()

    async def queue_due_syncs(self) -> list[str]:
        if not self.schedules:
            return []
        now = self.clock()
        runs = await transact_async(self.db, lambda s: sync_schedule.queue_due_syncs(s, now, self.policy))
        for run in runs:
            await self.jobs.defer(dispatch.sync_job(run.id, run.integration_id))
        return [run.id for run in runs]

    async def apply_retention(self) -> None:
        now = self.clock()
        anonymized = await transact_async(self.db, lambda s: anonymize_expired(s, now))
        retention = HistoryRetention.from_settings(self.settings)
        pruned = await transact_async(self.db, lambda s: prune_history(s, now, retention))
        if retention.webhook_events > timedelta(0):  # received webhooks: kept as long as sent ones
            before = now - retention.webhook_events
            pruned["incoming_events"] = await transact_async(
                self.db, lambda s: incoming_store.prune_events(s, before)
            )
        log.info("retention: anonymized %d records deleted 14 days ago; pruned %s", anonymized, pruned)
