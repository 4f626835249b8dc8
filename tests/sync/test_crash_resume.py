"""kill -9 of a syncing process at several points, then a restart: the resumed run ends with the same
store as an uninterrupted sync, and no run stays RUNNING."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sync_support import SyncSetup, add_integration, fingerprint

from lmsbridge.store import sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import SyncRun
from lmsbridge.sync.engine import SyncEngine, SyncOptions

WORKER = Path(__file__).with_name("crash_worker.py")


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _pages_done(setup: SyncSetup, run_id: str) -> int:
    with session_scope(setup.db, readonly=True) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        return sum(c["pages"] for c in (run.streams or {}).get("chains", {}).values())


@pytest.mark.parametrize(
    ("pages_before_kill", "in_transaction"),
    [(2, False), (9, False), (4, True), (14, True)],
    ids=["between-pages-early", "between-pages-late", "mid-transaction-early", "mid-transaction-late"],
)
async def test_killed_sync_resumes_to_the_same_store(
    setup: SyncSetup, database_url: str, tmp_path: Path, pages_before_kill: int, in_transaction: bool
) -> None:
    control = setup.sandbox.control
    control.configure(page_sizes={"users": 10, "courses": 5, "stats": 25, "integrations": 1})
    clean_id = add_integration(setup)
    assert (await setup.engine.run_new(clean_id, "FULL")).state == "SUCCEEDED"

    with session_scope(setup.db) as session:
        run, _ = sync_runs.enqueue(session, setup.integration_id, "FULL", setup.engine.clock())
        run_id = run.id
    marker = tmp_path / "marker"
    args = [str(WORKER), database_url, setup.key.decode(), run_id, str(marker)]
    if in_transaction:
        args.append(str(pages_before_kill))
    else:
        control.set_latency(fixed_ms=15)  # slow enough to catch it between pages
    worker = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    try:
        if in_transaction:
            _wait_for(marker.exists, "the worker to pause inside a transaction")
        else:
            _wait_for(lambda: _pages_done(setup, run_id) >= pages_before_kill, "pages to be checkpointed")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        await asyncio.wait_for(worker.wait(), timeout=30)
    control.set_latency(0)

    with session_scope(setup.db, readonly=True) as session:
        killed = session.get(SyncRun, run_id)
        assert killed is not None and killed.state == "RUNNING"
    checkpointed = _pages_done(setup, run_id)
    # mid-transaction: the page being written was rolled back, earlier pages are committed
    assert checkpointed >= (1 if in_transaction else pages_before_kill)

    # the next start claims the abandoned run (its heartbeat is stale) and resumes from its checkpoints
    resumer = SyncEngine(
        setup.db,
        setup.box,
        options=SyncOptions(connector_options={"ids_per_partition": 7}, stale_after=timedelta(0)),
    )
    control.reset_counters()
    outcome = await resumer.execute(run_id)
    assert outcome.state == "SUCCEEDED", outcome.error
    with session_scope(setup.db, readonly=True) as session:
        states = set(session.scalars(select(SyncRun.state)))
    assert "RUNNING" not in states
    assert fingerprint(setup.db, setup.integration_id) == fingerprint(setup.db, clean_id)
    # resumed, not restarted: the pages committed before the kill were not fetched again
    assert control.counters()["total_calls"] < _pages_done(setup, run_id) + 2
