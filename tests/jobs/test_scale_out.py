"""Scale-out on PostgreSQL with real processes: `lmsbridge worker` processes share the job store, one is
killed with SIGKILL mid-sync and another finishes its run from the checkpoints; the schedule queues each
due sync once however many workers run; one 360Learning budget per company across processes."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path

import pytest
from processes import workers
from sqlalchemy import Engine, select, text

from lmsbridge.clock import utcnow
from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.schema import RECORD_TABLES, SyncRun
from lmsbridge.sync.engine import SyncEngine
from waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

COMPANIES = 6
TENANT = {"users": 40, "courses": 12, "attempts": 300}


def _connect(db: Engine, box: SecretBox, sandbox: RunningSandbox) -> str:
    with session_scope(db) as session:
        credentials = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
        return create_integration(
            session, box, tool="360learning", base_url=sandbox.base_url, credentials=credentials
        ).id


def _runs(db: Engine) -> list[SyncRun]:
    with session_scope(db, readonly=True) as session:
        return list(session.scalars(select(SyncRun)))


def _pages_written(db: Engine) -> int:
    return sum(
        chain.get("pages", 0) for run in _runs(db) for chain in (run.streams or {}).get("chains", {}).values()
    )


def _fingerprint(db: Engine, integration_id: str) -> dict[str, dict[str, object]]:
    with session_scope(db, readonly=True) as session:
        return {
            model: {
                row.remote_id: (row.remote_data, row.remote_deleted_at is not None)
                for row in session.scalars(select(table).where(table.integration_id == integration_id))
            }
            for model, table in RECORD_TABLES.items()
        }


async def test_three_workers_sync_six_companies_and_survive_a_killed_worker(
    store: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = store
    box = SecretBox.from_settings(settings)
    with ExitStack() as stack:
        sandboxes = [stack.enter_context(running_sandbox(seed=100 + n, **TENANT)) for n in range(COMPANIES)]
        for sandbox in sandboxes:
            # slow enough that a sync is still running when its worker is killed
            sandbox.control.set_latency(fixed_ms=150)
        integrations = [_connect(db, box, sandbox) for sandbox in sandboxes]
        with session_scope(db) as session:
            for integration_id in integrations:
                sync_runs.enqueue(session, integration_id, "FULL", utcnow())

        with workers(settings, 1, tmp_path) as [first]:
            wait_until(lambda: _pages_written(db) >= 3, what="the first worker to be mid-sync")
            first.send_signal(signal.SIGKILL)  # mid-sync: its runs stay RUNNING, its jobs "doing"
            first.wait(timeout=10)
        victims = {r.id for r in _runs(db) if r.state == "RUNNING"}
        assert victims, "the killed worker was running no sync"
        with workers(settings, 2, tmp_path):
            wait_until(
                lambda: all(r.state in sync_runs.TERMINAL_STATES for r in _runs(db)),
                timeout=300,
                what="every run to end on the two other workers",
            )
        runs = _runs(db)
        assert sorted(r.integration_id for r in runs) == sorted(integrations)  # one run each, no duplicate
        assert {r.state for r in runs} == {"SUCCEEDED"}, [(r.state, r.error, r.warnings) for r in runs]
        # the killed worker's runs were resumed (the same runs, from their checkpoints), not started again
        assert all(r.state == "SUCCEEDED" for r in runs if r.id in victims)

        # each store equals a clean single-process sync of the same company
        for sandbox in sandboxes:
            sandbox.control.set_latency(fixed_ms=0)
        engine = SyncEngine(db, box)
        for sandbox, integration_id in zip(sandboxes, integrations, strict=True):
            clean_id = _connect(db, box, sandbox)
            assert (await engine.run_new(clean_id, "FULL")).state == "SUCCEEDED"
            assert _fingerprint(db, integration_id) == _fingerprint(db, clean_id)
        with db.connect() as conn:
            doing = conn.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
            ).scalar()
        assert doing == 0  # the killed worker's job was released


async def test_the_schedule_queues_each_due_sync_once_with_three_workers(
    store: tuple[Engine, Settings], tmp_path: Path
) -> None:
    """Three workers start together; each runs the periodic schedule's deferrer, the job store dedupes
    each tick: every never-synced integration gets exactly one FULL run."""
    db, settings = store
    box = SecretBox.from_settings(settings)
    with ExitStack() as stack:
        sandboxes = [stack.enter_context(running_sandbox(seed=200 + n, **TENANT)) for n in range(3)]
        integrations = [_connect(db, box, sandbox) for sandbox in sandboxes]
        with workers(settings, 3, tmp_path):
            wait_until(
                lambda: (
                    len(_runs(db)) >= len(integrations)
                    and all(r.state in sync_runs.TERMINAL_STATES for r in _runs(db))
                ),
                timeout=240,
                what="the scheduled FULL syncs",
            )
            runs = _runs(db)
        assert sorted(r.integration_id for r in runs) == sorted(integrations)
        assert {(r.type, r.state) for r in runs} == {("FULL", "SUCCEEDED")}
