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


# A kill between pages is the standard connector suite's (tests/connectors/conformance); here the
# worker is killed inside a page transaction, early and late in the run.
@pytest.mark.parametrize("writes_before_kill", [4, 14], ids=["mid-transaction-early", "mid-transaction-late"])
async def test_killed_sync_resumes_to_the_same_store(
    setup: SyncSetup, database_url: str, tmp_path: Path, writes_before_kill: int
) -> None:
    control = setup.sandbox.control
    control.configure(page_sizes={"users": 10, "courses": 5, "stats": 25, "integrations": 1})
    clean_id = add_integration(setup)
    assert (await setup.engine.run_new(clean_id, "FULL")).state == "SUCCEEDED"

    with session_scope(setup.db) as session:
        run, _ = sync_runs.enqueue(session, setup.integration_id, "FULL", setup.engine.clock())
        run_id = run.id
    marker = tmp_path / "marker"
    args = [str(WORKER), database_url, setup.key.decode(), run_id, str(marker), str(writes_before_kill)]
    worker = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    try:
        _wait_for(marker.exists, "the worker to pause inside a transaction")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        await asyncio.wait_for(worker.wait(), timeout=30)

    with session_scope(setup.db, readonly=True) as session:
        killed = session.get(SyncRun, run_id)
        assert killed is not None and killed.state == "RUNNING"
    checkpointed = _pages_done(setup, run_id)
    # the page being written was rolled back, earlier pages are committed
    assert checkpointed >= 1

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
