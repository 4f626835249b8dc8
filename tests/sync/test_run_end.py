"""A run always ends in a terminal state that is stored, whatever failed on the way: here a page write
fails mid-scan while the heartbeat beats as often as it can (its cancellation at the run's end must not
leave the writer's session to two threads)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session
from sync_support import SyncSetup

from lmsbridge.connectors.base import Stream
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.sync import engine as sync_engine
from lmsbridge.sync.pages import PageContext
from lmsbridge.sync.writer import CommitPolicy


async def test_a_failing_page_write_fails_the_run_and_records_its_end(
    setup: SyncSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = 0
    write_page = sync_engine.write_page

    def failing_stats_page(session: Session, ctx: PageContext, stream: Stream, prepared: Any) -> Any:
        nonlocal written
        if stream.name == "stats":
            written += 1
            if written == 3:
                raise OSError("disk I/O error (simulated)")
        return write_page(session, ctx, stream, prepared)

    monkeypatch.setattr(sync_engine, "write_page", failing_stats_page)
    setup.sandbox.control.configure(page_sizes={"stats": 25})
    setup.engine.options = sync_engine.SyncOptions(
        connector_options={"ids_per_partition": 7},
        commit_policy=CommitPolicy(max_records=10_000, max_seconds=3_600),
        stale_after=timedelta(0),  # beats back to back: a beat in flight whenever the run ends
    )

    outcome = await setup.engine.run_new(setup.integration_id, "FULL")

    assert outcome.state == "FAILED"
    assert outcome.error is not None and "disk I/O error (simulated)" in outcome.error
    with session_scope(setup.db, readonly=True) as session:
        run = sync_runs.get_run(session, outcome.run_id)
        assert run is not None and run.state == "FAILED" and run.log_id == outcome.log_id
        assert run.ended_at is not None and "disk I/O error" in (run.error or "")
