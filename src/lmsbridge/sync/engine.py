"""Runs one sync (FULL or DELTA) of one integration: plans cursor chains, fetches them concurrently under
the company budget, upserts and checkpoints after every page, marks deletions after complete scans.

Order: integrations (provider index) → courses → stats partitions by course, with users alongside.
A run resumes from its checkpoints when its process died (the job runner claims it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lmsbridge import logs, metrics
from lmsbridge.clock import utcnow
from lmsbridge.connections import stored_connection
from lmsbridge.connectors.base import Page, StoredConnection
from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InvalidCredentials,
    NotFound,
    PermissionMissing,
)
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.connectors.learning360.config import ClientOptions
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.connectors.learning360.streams import (
    COURSES,
    INTEGRATIONS,
    STATS,
    STREAMS_BY_NAME,
    USERS,
    delta_chains,
    fetch_chain,
    full_chains,
)
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import record_id
from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import complete_setup, get_integration
from lmsbridge.store.logs import write_log
from lmsbridge.store.maintenance import refresh_statistics
from lmsbridge.store.retention import anonymize_expired, mark_unseen_deleted
from lmsbridge.store.schema import Course, CourseRevision, Integration, SyncRun
from lmsbridge.store.upsert import UpsertCounts
from lmsbridge.sync.pages import PAGE_HANDLERS, PageContext, courses_page
from lmsbridge.sync.preparer import PagePreparer
from lmsbridge.sync.progress import NoProgress, SyncProgress
from lmsbridge.sync.read_ahead import read_ahead
from lmsbridge.sync.state import ChainState, RunState
from lmsbridge.sync.writer import CommitPolicy, GroupedWriter
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.outbox import StateSnapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

# models each stream feeds, for deletion marking after a complete scan
STREAM_MODELS = {stream.name: stream.models for stream in STREAMS_BY_NAME.values()}
# the field each stream's delta filters on (see streams.py); its greatest value seen is the next cursor
REPLICATION_KEYS = {s.name: s.delta_filter for s in STREAMS_BY_NAME.values() if s.delta_filter}
# a RUNNING run without a heartbeat for this long belongs to a dead process (it beats 3 times as often)
STALE_AFTER = timedelta(seconds=30)


# features hooks, see SyncOptions.before_scan / after_full
BeforeScan = Callable[[Engine, str, Learning360Connector, datetime], Awaitable[dict[str, str]]]
AfterFull = Callable[[Engine, str, str, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    max_parallel_chains: int = 10
    ids_per_partition: int = 150
    reads_per_second: float | None = None
    writes_per_second: float | None = None
    client_options: ClientOptions | None = None
    # a RUNNING run whose heartbeat is older than this belongs to a dead process and may be resumed
    stale_after: timedelta = STALE_AFTER
    # webhooks: the base of the log_url in sync-finished events (settings.public_base_url)
    public_base_url: str = "http://127.0.0.1:8000"
    # features: scope test before the scan → {stream: warning} to skip; model tests after a
    # FULL run. Set by the runtime (lmsbridge.features.sync_hooks.feature_hooks()); None = off.
    before_scan: BeforeScan | None = None
    after_full: AfterFull | None = None
    # in the transaction that ends a run, after its state is written (the schedule's failure policy)
    on_run_end: Callable[[Session, str, datetime], None] | None = None
    # page writes share a transaction until this many records or seconds (sync/writer.py)
    commit_policy: CommitPolicy = field(default_factory=CommitPolicy)
    # map and hash large pages in a helper process, on another core (sync/preparer.py)
    prepare_in_helper: bool = True


@dataclass
class SyncOutcome:
    run_id: str
    integration_id: str
    type: str
    state: str
    changed_models: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    api_calls: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    log_id: str | None = None


ConnectorFactory = Callable[[Integration, StoredConnection, SyncOptions], Learning360Connector]


def default_connector_factory(
    integration: Integration, connection: StoredConnection, options: SyncOptions
) -> Learning360Connector:
    config = Learning360Connector.config_from_connection(connection)
    return Learning360Connector(
        config,
        options=options.client_options,
        reads_per_second=options.reads_per_second,
        writes_per_second=options.writes_per_second,
    )


class SyncEngine:
    """Executes sync runs against the store. DB access is serialised through one writer per event loop
    (SQLite has one writer; on PostgreSQL it keeps page transactions short and ordered), which groups
    page writes into fewer transactions."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        *,
        options: SyncOptions | None = None,
        connector_factory: ConnectorFactory = default_connector_factory,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.box = box
        self.options = options or SyncOptions()
        self.connector_factory = connector_factory
        self.clock = clock
        # one writer per event loop (an engine may serve several asyncio.run calls, e.g. in the CLI)
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupedWriter] = (
            weakref.WeakKeyDictionary()
        )

    def writer(self) -> GroupedWriter:
        loop = asyncio.get_running_loop()
        writer = self._writers.get(loop)
        if writer is None:
            writer = self._writers[loop] = GroupedWriter(self.db, self.options.commit_policy)
        return writer

    async def _in_db(self, work: Callable[[Session], T]) -> T:
        return await self.writer().run(work)

    # ---- entry points ---------------------------------------------------------------------------

    async def run_new(self, integration_id: str, sync_type: str = "FULL", **kw: Any) -> SyncOutcome:
        """Queue (or join the queued/abandoned) sync of an integration and execute it now, here: the run
        is claimed in the transaction that queues it, so no job system takes it meanwhile."""
        now = self.clock()
        stale_before = now - self.options.stale_after

        def queue_and_claim(session: Session) -> SyncRun | None:
            run, _ = sync_runs.enqueue(session, integration_id, sync_type, now)
            return sync_runs.claim(session, run.id, now, stale_before)

        run = await self._in_db(queue_and_claim)
        if run is None:
            raise RuntimeError(f"a sync of {integration_id} is running elsewhere")
        return await self._execute_claimed(run, **kw)

    async def execute(self, run_id: str, *, progress: SyncProgress | None = None) -> SyncOutcome:
        """Claim and run a queued (or abandoned) run to its end. Returns the outcome."""
        now = self.clock()
        stale_before = now - self.options.stale_after
        run = await self._in_db(lambda s: sync_runs.claim(s, run_id, now, stale_before))
        if run is None:
            raise RuntimeError(f"sync run {run_id} is not claimable (finished, or running elsewhere)")
        return await self._execute_claimed(run, progress=progress)

    async def _execute_claimed(self, run: SyncRun, *, progress: SyncProgress | None = None) -> SyncOutcome:
        try:
            return await _Run(self, run, progress or NoProgress()).execute()
        finally:
            await self.writer().close()  # no connection stays checked out between runs


class _Run:
    """One execution of one sync run (possibly a resumption)."""

    def __init__(self, engine: SyncEngine, run: SyncRun, progress: SyncProgress) -> None:
        self.engine = engine
        self.run_id = run.id
        self.integration_id = run.integration_id
        self.type = run.type
        self.started_at = run.started_at or engine.clock()
        # the run's webhook events when they wait for the setup to complete (_record_end)
        self._deferred_webhooks: Callable[[Session], None] | None = None
        # set by the heartbeat when someone asked to cancel the run
        self.cancelled = False
        self.state = RunState.from_dict(run.streams)
        self.progress = progress
        self.warnings: list[str] = list(run.warnings or [])
        self.connector: Learning360Connector | None = None
        self.calls_before = int(run.api_calls or 0)
        self.providers = mapping.ProviderIndex.from_integrations(self.state.integrations or [])
        self.preparer = PagePreparer(use_helper=engine.options.prepare_in_helper)

    @property
    def full(self) -> bool:
        return self.type == "FULL"

    async def _in_db(self, work: Callable[[Session], T]) -> T:
        """Work of this run in a transaction of its own; fails if pages of this run were lost."""
        return await self.engine.writer().run(work, owner=self.run_id)

    def _calls(self) -> int:
        return self.calls_before + (self.connector.api_calls if self.connector else 0)

    async def execute(self) -> SyncOutcome:
        # every line logged while the run executes (client retries too) names its integration and run
        with logs.bind_context(integration_id=self.integration_id, run_id=self.run_id):
            logs.log_sync_started(
                integration_id=self.integration_id,
                run_id=self.run_id,
                sync_type=self.type,
                resumed=bool(self.state.chains),
            )
            return await self._execute()

    async def _execute(self) -> SyncOutcome:
        heartbeat = asyncio.create_task(self._heartbeat(asyncio.current_task()))
        state, error = "SUCCEEDED", None
        try:
            integration, connection = await self._in_db(self._load_integration)
            self.connector = self.engine.connector_factory(integration, connection, self.engine.options)
            async with self.connector:
                if self.engine.options.before_scan is not None:  # features: scope test first
                    now = self.engine.clock()
                    skips = await self.engine.options.before_scan(
                        self.engine.db, self.integration_id, self.connector, now
                    )
                    for stream, warning in skips.items():
                        await self._fail_stream(stream, warning)
                await self._prepare()
                await self._scan()
                await self._finish_deletions()
            state = self._final_state()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.cancelled or current is None:
                raise  # the process is stopping: the run stays RUNNING and is resumed elsewhere
            current.uncancel()
            state, error = "CANCELLED", "cancelled on request"
        except (InvalidCredentials, AuthenticationFailed) as exc:
            state, error = "AUTHENTICATION_FAILED", str(exc)
        except Exception as exc:  # a sync must always end in a terminal state, never stay RUNNING
            log.exception("sync %s failed", self.run_id)
            state, error = "FAILED", f"{type(exc).__name__}: {exc}"
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.preparer.close()
        outcome = await self._record_end(state, error)
        if self.full and self.engine.options.after_full is not None:  # features: model tests
            try:
                await self.engine.options.after_full(
                    self.engine.db, self.integration_id, state, self.engine.clock()
                )
            finally:
                if self._deferred_webhooks is not None:  # the setup's outcome is stored: announce the run
                    await self.engine._in_db(self._deferred_webhooks)
        return outcome

    def _setup_waits_for_tests(self, session: Session) -> bool:
        """Whether this run's end completes the setup only once the model tests (``after_full``) pass."""
        if not self.full or self.engine.options.after_full is None:
            return False
        integration = session.get(Integration, self.integration_id)
        return integration is not None and integration.setup_status != "COMPLETED"

    def _final_state(self) -> str:
        if not self.state.failed:
            return "SUCCEEDED"
        readable = [
            s for s in (USERS.name, INTEGRATIONS.name, COURSES.name, STATS.name) if s not in self.state.failed
        ]
        return "PARTIALLY_FAILED" if readable else "FAILED"

    def _load_integration(self, session: Session) -> tuple[Integration, StoredConnection]:
        integration = get_integration(session, self.integration_id)
        if integration is None:
            raise RuntimeError(f"integration {self.integration_id} no longer exists")
        connection = stored_connection(self.engine.box, integration)
        session.expunge(integration)
        return integration, connection

    async def _heartbeat(self, main: asyncio.Task[Any] | None) -> None:
        interval = self.engine.options.stale_after.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            # not owned: a lost group is the run's to report
            if await self.engine._in_db(self._beat) and main is not None:
                self.cancelled = True
                main.cancel()
                return

    def _beat(self, session: Session) -> bool:
        return sync_runs.heartbeat(session, self.run_id, self.engine.clock())

    # ---- planning -------------------------------------------------------------------------------

    async def _prepare(self) -> None:
        if self.state.chains:
            return  # resuming: the plan is in the checkpoint
        if self.full:
            for stream in (INTEGRATIONS, USERS, COURSES):
                for chain in full_chains(stream):
                    self.state.add_chain(chain)
        else:
            since = await self._in_db(self._delta_since)
            self.state.delta_since = since["started_at"].isoformat() if since["started_at"] else None
            for stream in (INTEGRATIONS, USERS):
                for chain in full_chains(stream):
                    self.state.add_chain(chain)
            for stream in (COURSES, STATS):
                for chain in delta_chains(stream, since.get(stream.name) or since["started_at"]):
                    self.state.add_chain(chain)
            self.state.stats_planned = True
        await self._in_db(self._save)

    def _delta_since(self, session: Session) -> dict[str, datetime | None]:
        """Where a delta starts: per stream the replication-key cursor of the last successful run
        (remote clock), else that run's start time (our clock)."""
        last = sync_runs.last_succeeded(session, self.integration_id)
        if last is None:
            return {"started_at": None}
        since: dict[str, datetime | None] = {"started_at": last.started_at}
        previous = RunState.from_dict(last.streams).cursors
        for stream, value in previous.items():
            since[stream] = mapping.parse_datetime(value)
        # carried forward, so a delta that sees nothing new keeps the cursor where it was
        self.state.cursors = dict(previous)
        return since

    def _save(self, session: Session) -> None:
        sync_runs.save_streams(session, self.run_id, self.state.to_dict(), self._calls())

    # ---- scanning -------------------------------------------------------------------------------

    async def _scan(self) -> None:
        await self._run_stream(INTEGRATIONS.name)
        if self.state.integrations is None:
            self.state.integrations = []
        users = asyncio.create_task(self._run_stream(USERS.name))
        try:
            await self._run_stream(COURSES.name)
            if not self.full:
                await self._recheck_inactive_courses()
            if not self.state.stats_planned:
                await self._plan_stats()
            await self._run_stream(STATS.name)
        finally:
            await users

    async def _plan_stats(self) -> None:
        """Partition the stats scan by the courses this run saw (all statuses)."""
        course_ids: list[str] | None = None
        if self.state.stream_complete(COURSES.name):
            course_ids = await self._in_db(self._courses_seen_this_run)
        chains = full_chains(
            STATS,
            partition_values=course_ids,
            max_ids_per_partition=self.engine.options.ids_per_partition,
        )
        if course_ids == []:
            chains = full_chains(STATS)  # no course: one (empty) scan still proves there are no attempts
        for chain in chains:
            self.state.add_chain(chain)
        self.state.stats_planned = True
        await self._in_db(self._save)

    def _courses_seen_this_run(self, session: Session) -> list[str]:
        return list(
            session.scalars(
                select(Course.remote_id).where(
                    Course.integration_id == self.integration_id, Course.last_seen_sync_id == self.run_id
                )
            )
        )

    async def _run_stream(self, stream: str) -> None:
        all_chains = self.state.chains_of(stream)
        chains = [c for c in all_chains if not c.done]
        self.progress.stream_planned(stream, len(all_chains), len(all_chains) - len(chains))
        if not chains or stream in self.state.failed:
            return
        limit = asyncio.Semaphore(self.engine.options.max_parallel_chains)

        async def one(chain_state: ChainState) -> None:
            async with limit:
                await self._run_chain(chain_state)

        results = await asyncio.gather(*(one(c) for c in chains), return_exceptions=True)
        for result in results:
            if isinstance(result, InvalidCredentials | AuthenticationFailed):
                raise result
            if isinstance(result, PermissionMissing):
                await self._fail_stream(stream, f"missing scope {result.scope!r}: {stream} skipped")
            elif isinstance(result, ConnectorError):
                await self._fail_stream(stream, f"{stream} could not be read completely: {result}")
            elif isinstance(result, BaseException):
                raise result

    async def _fail_stream(self, stream: str, message: str) -> None:
        def record(session: Session) -> None:
            if stream not in self.state.failed:
                logs.log_sync_stream_failed(
                    integration_id=self.integration_id, run_id=self.run_id, stream=stream, reason=message
                )
                self.state.failed[stream] = message
                self.warnings.append(message)
                self._save(session)

        await self._in_db(record)

    async def _run_chain(self, chain_state: ChainState) -> None:
        assert self.connector is not None
        chain = chain_state.chain
        self.progress.chain_started(chain.stream, chain.key)
        handler = PAGE_HANDLERS[chain.stream]
        # the next page is fetched while this one is prepared and written (sync/read_ahead.py)
        fetched = fetch_chain(self.connector.client, chain, resume_url=chain_state.next_url)
        async with contextlib.aclosing(read_ahead(fetched)) as pages:
            async for page in pages:
                if chain.stream == INTEGRATIONS.name:
                    self._collect_integrations(page.items)
                ctx = self._context()
                prepared = await self.preparer.prepare(chain.stream, self.integration_id, page.items)

                # state is mutated only inside DB work (serialised by the engine's writer), so a checkpoint
                # never sees another chain's half-made change; it is saved when the page's group commits
                def write(
                    session: Session, ctx: PageContext = ctx, page: Page = page, prepared: Any = prepared
                ) -> None:
                    self._count(handler(session, ctx, prepared))
                    key = REPLICATION_KEYS.get(chain.stream)
                    if key:
                        self.state.advance_cursor(chain.stream, [str(i.get(key) or "") for i in page.items])
                    chain_state.next_url = page.next_url
                    chain_state.pages += 1
                    chain_state.done = page.next_url is None

                # the last page of a stream commits at once: a finished scan is durable before the run goes on
                await self.engine.writer().write(
                    self.run_id,
                    write,
                    records=len(page.items),
                    checkpoint=self._save,
                    commit=partial(self._stream_scanned, chain.stream),
                )
                self.progress.page_done(chain.stream, chain.key, len(page.items))
        if not chain_state.done:  # an empty chain yields no page
            await self._in_db(lambda s: self._mark_chain_done(s, chain_state))
        self.progress.chain_done(chain.stream, chain.key)

    def _stream_scanned(self, stream: str) -> bool:
        return all(c.done for c in self.state.chains_of(stream))

    def _mark_chain_done(self, session: Session, chain_state: ChainState) -> None:
        chain_state.done = True
        self._save(session)

    def _collect_integrations(self, items: list[dict[str, Any]]) -> None:
        known = {str(i.get("_id")) for i in self.state.integrations or []}
        self.state.integrations = [
            *(self.state.integrations or []),
            *(i for i in items if str(i.get("_id")) not in known),
        ]
        self.providers = mapping.ProviderIndex.from_integrations(self.state.integrations)

    def _context(self) -> PageContext:
        return PageContext(self.integration_id, self.run_id, self.engine.clock(), self.providers)

    def _count(self, counts: dict[str, UpsertCounts]) -> None:
        for model, c in counts.items():
            self.state.count(model, seen=c.seen, created=c.created, changed=c.changed)

    async def _recheck_inactive_courses(self) -> None:
        """Delta runs: archive/restore do not move modifiedAt. Courses stored as archived that the
        archived/deleted scans no longer return were restored (or purged): fetch each one."""
        if not self.state.stream_complete(COURSES.name):
            return
        assert self.connector is not None
        candidates = await self._in_db(self._inactive_not_seen)
        for remote_id in candidates:
            try:
                dto = await self.connector.client.get_json(f"/api/v2/courses/{remote_id}")
            except NotFound:
                await self._in_db(partial(self._mark_course_gone, remote_id=remote_id))
                continue
            except ConnectorError as exc:
                await self._fail_stream(COURSES.name, f"courses could not be re-checked: {exc}")
                return
            await self._in_db(partial(self._write_course, dto=dto))

    def _write_course(self, session: Session, dto: dict[str, Any]) -> None:
        self._count(courses_page(session, self._context(), [dto]))

    def _inactive_not_seen(self, session: Session) -> list[str]:
        rows = session.scalars(
            select(CourseRevision.remote_id).where(
                CourseRevision.integration_id == self.integration_id,
                CourseRevision.status == "INACTIVE",
                CourseRevision.remote_deleted_at.is_(None),
                (CourseRevision.last_seen_sync_id != self.run_id)
                | CourseRevision.last_seen_sync_id.is_(None),
            )
        )
        return list(rows)

    def _mark_course_gone(self, session: Session, remote_id: str) -> None:
        """A stored course that now answers 404 was purged: the stored payload, marked deleted, goes
        through the normal courses path (which sets remote_deleted_at on course and revision)."""
        stored = session.get(Course, record_id(self.integration_id, "courses", remote_id))
        payload = (stored.remote_data or {}).get(mapping.COURSES_KEY) if stored is not None else None
        if isinstance(payload, dict):
            self._count(courses_page(session, self._context(), [{**payload, "status": "deleted"}]))

    # ---- deletions and the end --------------------------------------------------------------------

    async def _finish_deletions(self) -> None:
        """Records a complete scan did not return are deleted. Only FULL runs (and the users stream,
        which every run scans in full) infer deletions; a failed or partial scan infers nothing."""
        streams = [USERS.name] + ([INTEGRATIONS.name, COURSES.name, STATS.name] if self.full else [])
        for stream in streams:
            if stream in self.state.deletions_done or not self.state.stream_complete(stream):
                continue
            if stream == INTEGRATIONS.name and not self.state.stream_complete(COURSES.name):
                continue  # synthetic providers are confirmed by the courses scan
            now = self.engine.clock()

            def mark(session: Session, stream: str = stream, now: datetime = now) -> None:
                models = list(STREAM_MODELS[stream])
                for model in models:
                    count = mark_unseen_deleted(session, self.integration_id, model, self.run_id, now)
                    self.state.count(model, deleted=count)
                self.state.deletions_done.append(stream)
                self._save(session)

            await self._in_db(mark)

    def _report_end(self, outcome: SyncOutcome) -> None:
        """The run's end line and metrics (counts are the whole run's, resumptions included)."""
        client = self.connector.client if self.connector is not None else None
        logs.log_sync_finished(
            integration_id=self.integration_id,
            run_id=self.run_id,
            sync_type=self.type,
            state=outcome.state,
            counts=self.state.counts,
            api_calls=outcome.api_calls,
            throttled=client.throttled if client is not None else 0,
            retries=client.retries if client is not None else 0,
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
            warnings=outcome.warnings,
            error=outcome.error,
        )
        metrics.SYNC_RUNS.labels(type=self.type, state=outcome.state).inc()
        seconds = logs.seconds_between(outcome.started_at, outcome.ended_at)
        if seconds is not None:
            metrics.SYNC_DURATION.labels(type=self.type).observe(max(seconds, 0.0))
        for model, counts in self.state.counts.items():
            for kind in ("created", "changed", "deleted"):
                if counts.get(kind):
                    metrics.RECORDS_WRITTEN.labels(model=model, kind=kind).inc(counts[kind])

    async def _record_end(self, state: str, error: str | None) -> SyncOutcome:
        now = self.engine.clock()
        outcome = SyncOutcome(
            run_id=self.run_id,
            integration_id=self.integration_id,
            type=self.type,
            state=state,
            changed_models=self.state.changed_models(),
            warnings=list(self.warnings),
            error=error,
            api_calls=self._calls(),
            started_at=self.started_at,
            ended_at=now,
        )

        def finish(session: Session) -> str:
            entry = write_log(
                session,
                kind="sync",
                integration_id=self.integration_id,
                request={"sync_id": self.run_id, "type": self.type},
                response={"state": state, "counts": self.state.counts, "warnings": self.warnings},
                error=error,
            )
            sync_runs.finish(
                session,
                self.run_id,
                state=state,
                now=now,
                streams=self.state.to_dict(),
                api_calls=outcome.api_calls,
                error=error,
                warnings=self.warnings,
                log_id=entry.id,
            )
            if self.engine.options.on_run_end is not None:
                self.engine.options.on_run_end(session, self.run_id, now)
            anonymize_expired(session, now)
            webhook_state_before = outbox.integration_snapshot(session, self.integration_id)  # webhooks
            if self.full and state == "SUCCEEDED" and self.engine.options.after_full is None:
                complete_setup(session, self.integration_id, now)  # no QA configured

            # webhooks: data-changed, sync-finished, state-changed commit with the run's end
            def announce(session: Session, state_before: StateSnapshot | None = webhook_state_before) -> None:
                outbox.record_sync_end(
                    session,
                    self.integration_id,
                    sync_id=self.run_id,
                    state=state,
                    changed_models=outcome.changed_models,
                    started_at=self.started_at,
                    ended_at=now,
                    log_url=outbox.log_url(self.engine.options.public_base_url, entry.id),
                    state_before=state_before,
                    now=now,
                )

            if self._setup_waits_for_tests(session):
                # a client reads on sync-finished: until the model tests complete the setup, reads
                # answer SETUP_SYNC_PENDING, so the events are written after them (state changes the
                # tests make announce themselves: compare with the state at that point)
                self._deferred_webhooks = lambda later: announce(
                    later, outbox.integration_snapshot(later, self.integration_id)
                )
            else:
                announce(session)
            return str(entry.id)

        outcome.log_id = await self.engine._in_db(finish)  # not owned: the end is recorded even then
        self._report_end(outcome)
        if self.full and state in ("SUCCEEDED", "PARTIALLY_FAILED"):
            await asyncio.to_thread(refresh_statistics, self.engine.db)
        return outcome
