"""Runs one sync (FULL or DELTA) of one integration through its ``Connector``: plans each stream's cursor
chains once the streams it comes after have finished, fetches them concurrently under the connector's
budget, upserts and checkpoints after every page, marks deletions after complete scans.

A run resumes from its checkpoints when its process died (the job runner claims it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lmsbridge import logs, metrics
from lmsbridge.clock import utcnow
from lmsbridge.connections import stored_connection
from lmsbridge.connectors.base import (
    Connector,
    Deletions,
    MapContext,
    Page,
    PlanInput,
    StoredConnection,
    Stream,
    SyncMode,
)
from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InvalidCredentials,
    NotFound,
    PermissionMissing,
)
from lmsbridge.connectors.registry import connector_class
from lmsbridge.crypto import SecretBox
from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import complete_setup, get_integration
from lmsbridge.store.logs import write_log
from lmsbridge.store.maintenance import refresh_statistics
from lmsbridge.store.record_specs import spec_for
from lmsbridge.store.retention import anonymize_expired, mark_unseen_deleted
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.store.upsert import UpsertCounts
from lmsbridge.sync.pages import PageContext, write_page
from lmsbridge.sync.preparer import PagePreparer
from lmsbridge.sync.progress import NoProgress, SyncProgress
from lmsbridge.sync.read_ahead import read_ahead
from lmsbridge.sync.state import ChainState, RunState
from lmsbridge.sync.writer import CommitPolicy, GroupedWriter
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.outbox import StateSnapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

# a RUNNING run without a heartbeat for this long belongs to a dead process (it beats 3 times as often)
STALE_AFTER = timedelta(seconds=30)


# features hooks, see SyncOptions.before_scan / after_full
BeforeScan = Callable[[Engine, str, Connector, datetime], Awaitable[dict[str, str]]]
AfterFull = Callable[[Engine, str, str, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    max_parallel_chains: int = 10
    reads_per_second: float | None = None
    writes_per_second: float | None = None
    # keyword arguments for the connector's ``from_connection`` (e.g. its client's timeouts and retries)
    connector_options: Mapping[str, Any] = field(default_factory=dict)
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


ConnectorFactory = Callable[[Integration, StoredConnection, SyncOptions], Connector]


def default_connector_factory(
    integration: Integration, connection: StoredConnection, options: SyncOptions
) -> Connector:
    return connector_class(integration.tool).from_connection(
        connection,
        reads_per_second=options.reads_per_second,
        writes_per_second=options.writes_per_second,
        **options.connector_options,
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
        self.connector: Connector | None = None
        self.calls_before = int(run.api_calls or 0)
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
        assert self.connector is not None
        readable = [s for s in self.connector.streams if s.name not in self.state.failed]
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
        """A new run notes where a DELTA starts; each stream is planned when its turn comes (``_plan``)."""
        if self.state.chains or self.state.planned:
            return  # resuming: the plan is in the checkpoint
        if not self.full:
            await self._in_db(self._delta_since)
        await self._in_db(self._save)

    def _delta_since(self, session: Session) -> None:
        """Where a delta starts: per stream the replication-key cursor of the last successful run
        (remote clock), else that run's start time (our clock)."""
        assert self.connector is not None
        last = sync_runs.last_succeeded(session, self.integration_id)
        if last is None:
            return
        previous = RunState.from_dict(last.streams).cursors
        started = last.started_at.isoformat() if last.started_at else None
        for stream in self.connector.streams:
            since = previous.get(stream.name) or started
            if since:
                self.state.since[stream.name] = since
        # carried forward, so a delta that sees nothing new keeps the cursor where it was
        self.state.cursors = dict(previous)

    async def _plan(self, stream: Stream) -> None:
        """The stream's chains, planned once its ``after`` streams finished (so a partition can use the
        ids they saw)."""
        assert self.connector is not None
        partition_ids: list[str] | None = None
        if stream.partition_by is not None and self._feeders_complete(stream.partition_by):
            partition_ids = await self._in_db(partial(self._seen_this_run, model=stream.partition_by))
        since = self.state.since.get(stream.name)
        given = PlanInput(
            mode=SyncMode(self.type),
            since=datetime.fromisoformat(since) if since else None,
            partition_ids=partition_ids,
        )
        for chain in self.connector.plan(stream, given):
            self.state.add_chain(chain)
        self.state.planned.append(stream.name)
        await self._in_db(self._save)

    def _feeders_complete(self, model: str) -> bool:
        assert self.connector is not None
        feeders = [s.name for s in self.connector.streams if model in s.models]
        return bool(feeders) and all(self.state.stream_complete(name) for name in feeders)

    def _seen_this_run(self, session: Session, model: str) -> list[str]:
        table = spec_for(model).table
        return list(
            session.scalars(
                select(table.c.remote_id).where(
                    table.c.integration_id == self.integration_id, table.c.last_seen_sync_id == self.run_id
                )
            )
        )

    def _save(self, session: Session) -> None:
        sync_runs.save_streams(session, self.run_id, self.state.to_dict(), self._calls())

    # ---- scanning -------------------------------------------------------------------------------

    async def _scan(self) -> None:
        """Every stream of the connector, each as soon as the streams it comes after have finished."""
        assert self.connector is not None
        tasks: dict[str, asyncio.Task[None]] = {}

        async def one(stream: Stream) -> None:
            for name in stream.after:
                await asyncio.shield(tasks[name])
            if stream.name not in self.state.planned:
                await self._plan(stream)
            await self._run_stream(stream.name)
            if not self.full and stream.revisit is not None:
                await self._revisit(stream)

        for stream in self.connector.streams:
            unknown = [name for name in stream.after if name not in tasks]
            if unknown:
                raise ValueError(
                    f"stream {stream.name!r} comes after {unknown}, declared later or not at all"
                )
            tasks[stream.name] = asyncio.create_task(one(stream))
        try:
            results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        finally:
            for task in tasks.values():
                task.cancel()
        for result in results:
            if isinstance(result, BaseException):
                raise result

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
        stream = self.connector.stream(chain.stream)
        self.progress.chain_started(chain.stream, chain.key)
        # the next page is fetched while this one is prepared and written (sync/read_ahead.py)
        fetched = self.connector.fetch(chain, chain_state.checkpoint)
        async with contextlib.aclosing(read_ahead(fetched)) as pages:
            async for page in pages:
                if stream.remember is not None:
                    self.state.memory = stream.remember(page.items, self.state.memory)
                ctx = self._context()
                prepared = await self._prepare_page(stream, ctx, page.items)

                # state is mutated only inside DB work (serialised by the engine's writer), so a checkpoint
                # never sees another chain's half-made change; it is saved when the page's group commits
                def write(
                    session: Session, ctx: PageContext = ctx, page: Page = page, prepared: Any = prepared
                ) -> None:
                    self._count(write_page(session, ctx, stream, prepared))
                    key = stream.replication_key
                    if key:
                        self.state.advance_cursor(chain.stream, [str(i.get(key) or "") for i in page.items])
                    chain_state.checkpoint = page.checkpoint
                    chain_state.pages += 1
                    chain_state.done = page.checkpoint is None

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

    async def _prepare_page(self, stream: Stream, ctx: PageContext, items: list[dict[str, Any]]) -> Any:
        map_context = ctx.map_context()
        if stream.maps_alone:  # its mapping reads no memory: none travels to the helper process
            map_context = MapContext(map_context.now, {})
        return await self.preparer.prepare(stream, self.integration_id, items, map_context)

    def _stream_scanned(self, stream: str) -> bool:
        return all(c.done for c in self.state.chains_of(stream))

    def _mark_chain_done(self, session: Session, chain_state: ChainState) -> None:
        chain_state.done = True
        self._save(session)

    def _context(self) -> PageContext:
        return PageContext(self.integration_id, self.run_id, self.engine.clock(), self.state.memory)

    def _count(self, counts: dict[str, UpsertCounts]) -> None:
        for model, c in counts.items():
            self.state.count(model, seen=c.seen, created=c.created, changed=c.changed)

    async def _revisit(self, stream: Stream) -> None:
        """DELTA runs: changes the delta filter cannot see (``Stream.revisit``). Stored records in the
        revisited status that the run's scans no longer returned changed (or were purged): fetch each."""
        assert self.connector is not None and stream.revisit is not None
        if not self.state.stream_complete(stream.name):
            return
        candidates = await self._in_db(partial(self._revisit_candidates, stream=stream))
        for remote_id, stored_data in candidates:
            try:
                item: dict[str, Any] | None = await self.connector.fetch_record(stream, remote_id)
            except NotFound:
                item = self.connector.gone_item(stream, stored_data)
            except ConnectorError as exc:
                await self._fail_stream(stream.name, f"{stream.name} could not be re-checked: {exc}")
                return
            if item is None:
                continue
            ctx = self._context()
            prepared = await self._prepare_page(stream, ctx, [item])
            await self._in_db(partial(self._write_one, stream=stream, ctx=ctx, prepared=prepared))

    def _write_one(self, session: Session, stream: Stream, ctx: PageContext, prepared: Any) -> None:
        self._count(write_page(session, ctx, stream, prepared))

    def _revisit_candidates(self, session: Session, stream: Stream) -> list[tuple[str, Any]]:
        assert stream.revisit is not None
        table = spec_for(stream.revisit.model).table
        rows = session.execute(
            select(table.c.remote_id, table.c.remote_data).where(
                table.c.integration_id == self.integration_id,
                table.c.status == stream.revisit.status,
                table.c.remote_deleted_at.is_(None),
                (table.c.last_seen_sync_id != self.run_id) | table.c.last_seen_sync_id.is_(None),
            )
        )
        return [(str(row.remote_id), row.remote_data) for row in rows]

    # ---- deletions and the end --------------------------------------------------------------------

    def _confirms_deletions(self, stream: Stream) -> bool:
        """Whether this run's scan of the stream proves that what it did not return is gone: a
        complete scan of a kind the stream declares (``Stream.deletions``), and of the streams named
        in ``deletions_after``. A failed or partial scan infers nothing."""
        if stream.deletions is Deletions.NEVER or (stream.deletions is Deletions.FULL_RUNS and not self.full):
            return False
        names = (stream.name, *stream.deletions_after)
        return all(self.state.stream_complete(name) for name in names)

    async def _finish_deletions(self) -> None:
        """Records a complete scan did not return are deleted."""
        assert self.connector is not None
        for stream in self.connector.streams:
            if stream.name in self.state.deletions_done or not self._confirms_deletions(stream):
                continue
            now = self.engine.clock()

            def mark(session: Session, stream: Stream = stream, now: datetime = now) -> None:
                for model in stream.models:
                    count = mark_unseen_deleted(session, self.integration_id, model, self.run_id, now)
                    self.state.count(model, deleted=count)
                self.state.deletions_done.append(stream.name)
                self._save(session)

            await self._in_db(mark)

    def _report_end(self, outcome: SyncOutcome) -> None:
        """The run's end line and metrics (counts are the whole run's, resumptions included)."""
        connector = self.connector
        logs.log_sync_finished(
            integration_id=self.integration_id,
            run_id=self.run_id,
            sync_type=self.type,
            state=outcome.state,
            counts=self.state.counts,
            api_calls=outcome.api_calls,
            throttled=connector.throttled if connector is not None else 0,
            retries=connector.retries if connector is not None else 0,
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
