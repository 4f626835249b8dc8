"""The job system of one process: a Procrastinate app over the deployment's job store, a worker when this
process works, and the dispatcher that turns stored work into jobs.

Backends, chosen by the database URL (``settings.job_backend`` overrides): PostgreSQL keeps jobs in its
``procrastinate_*`` tables (applied by ``lmsbridge migrate``), so any number of ``lmsbridge worker``
processes on any number of machines share them; SQLite keeps them in the memory of the one process that
works (``serve`` or ``worker``; a file lock in the data dir elects it), and the dispatcher finds stored
work again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from procrastinate import App, PsycopgConnector, exceptions, testing
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from lmsbridge import metrics
from lmsbridge.jobs.dispatch import JobSpec
from lmsbridge.jobs.tasks import tasks
from lmsbridge.settings import Settings

log = logging.getLogger(__name__)

QUEUES = ("syncs", "actions", "webhooks", "incoming", "schedule")
# jobs waiting to run per queue, and how long the oldest has waited since it was deferred
_WAITING_BY_QUEUE = """
    SELECT j.queue_name, count(*) AS jobs, extract(epoch FROM now() - min(e.at)) AS oldest_s
      FROM procrastinate_jobs j
      JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
     WHERE j.status = 'todo'
     GROUP BY j.queue_name
"""
# an arbitrary advisory lock key: "create the job tables" happens once among processes starting together
_SCHEMA_LOCK = 0x6C6D7362


def uses_procrastinate_store(settings: Settings) -> bool:
    """True where jobs live in PostgreSQL (shared by processes and machines)."""
    if settings.job_backend == "auto":
        return not settings.is_sqlite
    return settings.job_backend == "postgresql"


def job_backend(settings: Settings) -> str:
    """Where jobs live, as the start-up log line names it."""
    return "procrastinate-postgresql" if uses_procrastinate_store(settings) else "procrastinate-in-memory"


def _conninfo(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_job_app(settings: Settings) -> App:
    """The Procrastinate app of this deployment (not opened)."""
    connector: PsycopgConnector | testing.InMemoryConnector
    if uses_procrastinate_store(settings):
        if settings.is_sqlite:
            raise ValueError("LMSBRIDGE_JOB_BACKEND=postgresql needs a PostgreSQL database URL")
        connector = PsycopgConnector(
            conninfo=_conninfo(settings.resolved_database_url), min_size=1, max_size=10
        )
    else:
        connector = testing.InMemoryConnector()
    app = App(connector=connector)
    app.add_tasks_from(tasks, namespace="")
    return app


def apply_job_schema(settings: Settings, engine: Engine) -> bool:
    """Create Procrastinate's tables in PostgreSQL unless they exist (under an advisory lock, so processes
    starting together create them once); returns whether it created them."""
    if not uses_procrastinate_store(settings):
        return False
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        # the driver's own execute, without parameters: the schema's text has literal % signs
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(SchemaManager.get_schema())
    return True


class JobSystem:
    """``start()`` opens the job store; with ``work=True`` it also runs a worker (``concurrency`` jobs at
    once) and the dispatcher. ``defer`` queues one job; ``wake`` makes the dispatcher look now."""

    def __init__(
        self,
        settings: Settings,
        *,
        context: dict[str, object],
        due_jobs: Callable[[], Awaitable[list[JobSpec]]],
        work: bool,
        concurrency: int | None = None,
    ) -> None:
        self.settings = settings
        self.app = make_job_app(settings)
        self.shared = uses_procrastinate_store(settings)
        self.work = work
        self.concurrency = concurrency or settings.worker_concurrency
        self._context = context
        self._due_jobs = due_jobs
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False

    @property
    def backend(self) -> str:
        return job_backend(self.settings)

    async def start(self) -> None:
        if self._opened:
            return
        await self.app.open_async()
        self._loop = asyncio.get_running_loop()
        self._opened = True
        if self.work:
            stalled = self.settings.worker_stalled_seconds
            worker = self.app.run_worker_async(
                queues=list(QUEUES),
                concurrency=self.concurrency,
                wait=True,
                install_signal_handlers=False,
                additional_context=self._context,
                delete_jobs="successful",
                fetch_job_polling_interval=self.settings.job_poll_seconds,
                update_heartbeat_interval=max(0.5, stalled / 3),
                stalled_worker_timeout=stalled,
                # stored work resumes from its checkpoints: a stopping process does not wait for it
                shutdown_graceful_timeout=0.0,
            )
            self._tasks.append(asyncio.create_task(worker, name="lmsbridge-worker"))
            self._tasks.append(asyncio.create_task(self._dispatch_loop(), name="lmsbridge-dispatch"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # a job cut short is found again by the dispatcher of the next process (stored work)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=15.0)
        self._tasks.clear()
        if self._opened:
            await self.app.close_async()
            self._opened = False
        self._loop = None

    def wake(self) -> None:
        """Look for stored work now. Safe from any thread: sync API routes run in a thread pool, and an
        asyncio event may only be set from its loop's thread."""
        if self._loop is None:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def defer(self, spec: JobSpec) -> bool:
        """Queue one job; False when an equal job already waits (its queueing lock) or nobody here would
        run it (an in-memory store of a process that does not work: the working process's dispatcher
        finds the stored work instead)."""
        if not self._opened or (not self.shared and not self.work):
            return False
        task = self.app.configure_task(spec.task, lock=spec.lock, queueing_lock=spec.queueing_lock)
        try:
            await task.defer_async(**spec.args)
        except exceptions.AlreadyEnqueued:
            return False
        return True

    async def dispatch_once(self) -> int:
        """Defer a job for every piece of stored work that asks for one; returns how many were new."""
        deferred = 0
        for spec in await self._due_jobs():
            deferred += await self.defer(spec)
        if self.shared:
            await self._recover_stalled_jobs()
        await self._report_queues()
        return deferred

    async def readiness_check(self) -> str | None:
        """For ``/readyz``: None when the job store answers."""
        if not self._opened:
            return "the job system is not started"
        if self.shared and not await self.app.check_connection_async():
            return "the job tables are missing (run `lmsbridge migrate`)"
        return None

    async def _report_queues(self) -> None:
        """Queue depth and the oldest waiting job's age, per queue (Prometheus gauges)."""
        waiting = {queue: (0, 0.0) for queue in QUEUES}
        if self.shared:
            rows = await self.app.connector.execute_query_all_async(_WAITING_BY_QUEUE)
            for row in rows:
                waiting[row["queue_name"]] = (int(row["jobs"]), float(row["oldest_s"] or 0.0))
        else:
            connector = self.app.connector
            assert isinstance(connector, testing.InMemoryConnector)
            now = datetime.now(UTC)
            for job in connector.jobs.values():
                if job["status"] != "todo":
                    continue
                deferred = [e["at"] for e in connector.events[job["id"]] if e["type"] == "deferred"]
                age = (now - deferred[0]).total_seconds() if deferred else 0.0
                count, oldest = waiting.get(job["queue_name"], (0, 0.0))
                waiting[job["queue_name"]] = (count + 1, max(oldest, age))
        for queue, (count, oldest) in waiting.items():
            metrics.JOB_QUEUE_DEPTH.labels(queue=queue).set(count)
            metrics.JOB_OLDEST_AGE.labels(queue=queue).set(oldest)

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.dispatch_once()
            except Exception:  # e.g. the database restarting: try again on the next pass
                log.exception("the job dispatcher's pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.job_poll_seconds)

    async def _recover_stalled_jobs(self) -> None:
        """Jobs of a worker that stopped beating (killed, its machine gone) are ended as failed, which
        frees their locks; their stored work (a RUNNING run, a claimed task) is dispatched again once
        its own heartbeat is stale, and resumes from its checkpoints."""
        stalled = await self.app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=self.settings.worker_stalled_seconds
        )
        for job in stalled:
            assert job.id is not None
            log.warning("job %s (%s) of a stopped worker is released", job.id, job.task_name)
            with contextlib.suppress(Exception):  # another process released it first
                await self.app.job_manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)
