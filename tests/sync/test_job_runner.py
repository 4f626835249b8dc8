"""The in-process job runner: one queued-or-running sync per integration, schedules, resumption of runs
abandoned by a dead process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sync_support import SyncSetup

from lmsbridge.jobs.local import LocalJobRunner
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import SyncRun
from lmsbridge.sync.engine import SyncEngine, SyncOptions, utcnow


def _runs(setup: SyncSetup) -> list[SyncRun]:
    with session_scope(setup.db, readonly=True) as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.created_at)))


async def test_force_sync_is_deduplicated_and_runs(setup: SyncSetup) -> None:
    runner = LocalJobRunner(setup.db, setup.engine, schedule=False)
    first_id, first_queued = await runner.enqueue_sync(setup.integration_id, "FULL")
    again_id, again_queued = await runner.enqueue_sync(setup.integration_id, "DELTA")
    assert (first_queued, again_queued) == (False, True)
    assert again_id == first_id

    assert await runner.run_pending_once() == [first_id]
    await runner.wait_idle()
    [run] = _runs(setup)
    assert (run.id, run.state, run.type) == (first_id, "SUCCEEDED", "FULL")
    # finished: a new request queues a new run
    new_id, queued = await runner.enqueue_sync(setup.integration_id, "DELTA")
    assert not queued and new_id != first_id


async def test_schedule_queues_full_then_delta_when_due(setup: SyncSetup) -> None:
    now = [utcnow()]
    runner = LocalJobRunner(
        setup.db,
        setup.engine,
        full_interval=timedelta(hours=10),
        delta_interval=timedelta(hours=3),
        clock=lambda: now[0],
    )
    await runner.run_pending_once()  # never synced: a FULL is due at once
    await runner.wait_idle()
    assert [(r.type, r.state) for r in _runs(setup)] == [("FULL", "SUCCEEDED")]

    now[0] += timedelta(hours=1)
    assert await runner.run_pending_once() == []  # nothing due yet

    now[0] += timedelta(hours=3)
    await runner.run_pending_once()
    await runner.wait_idle()
    assert [r.type for r in _runs(setup)] == ["FULL", "DELTA"]

    now[0] += timedelta(hours=10)
    await runner.run_pending_once()
    await runner.wait_idle()
    assert [r.type for r in _runs(setup)] == ["FULL", "DELTA", "FULL"]
    assert all(r.state == "SUCCEEDED" for r in _runs(setup))


async def test_abandoned_running_run_is_resumed(setup: SyncSetup) -> None:
    long_ago = utcnow() - timedelta(minutes=10)
    with session_scope(setup.db) as session:
        run, _ = sync_runs.enqueue(session, setup.integration_id, "FULL", long_ago)
        # a process claimed it and died: RUNNING with a heartbeat from long ago
        assert sync_runs.claim(session, run.id, long_ago, long_ago - timedelta(seconds=1)) is not None
        run_id = run.id
    engine = SyncEngine(setup.db, setup.box, options=SyncOptions(stale_after=timedelta(seconds=30)))
    runner = LocalJobRunner(setup.db, engine, schedule=False)
    assert await runner.run_pending_once() == [run_id]
    await runner.wait_idle()
    [run] = _runs(setup)
    assert (run.id, run.state) == (run_id, "SUCCEEDED")
