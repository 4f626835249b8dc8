"""The job system in one process, on both backends (SQLite: the in-memory job store; PostgreSQL:
Procrastinate's tables): stored work becomes jobs, the schedule by the job clock, failing syncs back off
and pause, a forced sync resumes, cancel."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sync_support import SyncSetup

from lmsbridge.api.app import create_app
from lmsbridge.clock import utcnow
from lmsbridge.runtime import Runtime
from lmsbridge.sandbox.learning360.vocab import ALL_SCOPES
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import set_credentials
from lmsbridge.store.logs import write_log
from lmsbridge.store.schema import Integration, InteractionLog, SyncRun, WebhookEvent
from lmsbridge.webhooks.payloads import public_state
from loopback import serve
from waiting import eventually

HOUR = timedelta(hours=1)


def _settings(setup: SyncSetup, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=setup.db.url.render_as_string(hide_password=False),
        encryption_key=setup.key.decode(),
        job_poll_seconds=0.05,
        worker_stalled_seconds=3.0,
    )


@asynccontextmanager
async def working(
    setup: SyncSetup, tmp_path: Path, clock: Callable[[], datetime] = utcnow
) -> AsyncIterator[Runtime]:
    runtime = Runtime(_settings(setup, tmp_path), setup.db, clock=clock)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def _api_headers(setup: SyncSetup) -> dict[str, str]:
    with session_scope(setup.db) as session:
        _, key = create_api_key(session, "job tests")
    return {"Authorization": f"Bearer {key}", "X-Integration-Id": setup.integration_id}


def _runs(setup: SyncSetup) -> list[SyncRun]:
    with session_scope(setup.db, readonly=True) as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.created_at)))


def _integration(setup: SyncSetup) -> Integration:
    with session_scope(setup.db, readonly=True) as session:
        integration = session.get(Integration, setup.integration_id)
        assert integration is not None
        session.expunge(integration)
        return integration


def _state_changed_events(setup: SyncSetup) -> int:
    with session_scope(setup.db, readonly=True) as session:
        events = session.scalars(select(WebhookEvent).where(WebhookEvent.type == "integration-state-changed"))
        return len(events.all())


def _ended(setup: SyncSetup, count: int) -> bool:
    runs = _runs(setup)
    return len(runs) >= count and all(r.state in sync_runs.TERMINAL_STATES for r in runs)


async def test_a_queued_run_is_run_once_by_the_working_process(setup: SyncSetup, tmp_path: Path) -> None:
    with session_scope(setup.db) as session:
        first, already = sync_runs.enqueue(session, setup.integration_id, "FULL", utcnow())
        again, again_already = sync_runs.enqueue(session, setup.integration_id, "DELTA", utcnow())
        run_id = first.id
    assert (already, again_already, again.id) == (False, True, run_id)  # one queued or running at most
    async with working(setup, tmp_path):
        await eventually(lambda: _ended(setup, 1), what="the queued run to end")
    [run] = _runs(setup)
    assert (run.id, run.type, run.state) == (run_id, "FULL", "SUCCEEDED")
    assert _integration(setup).consecutive_failures == 0


async def test_schedule_queues_full_then_delta_when_due(setup: SyncSetup, tmp_path: Path) -> None:
    now = [utcnow()]
    async with working(setup, tmp_path, clock=lambda: now[0]) as runtime:
        # the minute's periodic schedule job asks too (by the same clock): count runs, not return values
        await runtime.queue_due_syncs()  # never synced: a FULL at once
        await eventually(lambda: _ended(setup, 1), what="the first FULL")
        now[0] += HOUR
        assert await runtime.queue_due_syncs() == []  # nothing due yet
        assert [r.type for r in _runs(setup)] == ["FULL"]
        now[0] += 3 * HOUR
        await runtime.queue_due_syncs()
        await runtime.queue_due_syncs()  # queued once, however often the schedule asks
        assert [r.type for r in _runs(setup)] == ["FULL", "DELTA"]
        await eventually(lambda: _ended(setup, 2), what="the DELTA")
        now[0] += 10 * HOUR
        await runtime.queue_due_syncs()
        await eventually(lambda: _ended(setup, 3), what="the second FULL")
    assert [(r.type, r.state) for r in _runs(setup)] == [
        ("FULL", "SUCCEEDED"),
        ("DELTA", "SUCCEEDED"),
        ("FULL", "SUCCEEDED"),
    ]


async def test_failing_syncs_back_off_then_pause_and_a_forced_sync_resumes(
    setup: SyncSetup, tmp_path: Path
) -> None:
    """A credential without courseStats:read: each FULL ends PARTIALLY_FAILED. Retries come 1, 2, 4, 8
    minutes later (by the job clock), the fifth failure pauses the schedule, said once by webhook."""
    sandbox = setup.sandbox
    sandbox.control.set_scopes(sandbox.client_id, [s for s in ALL_SCOPES if s != "courseStats:read"])
    now = [utcnow()]
    async with working(setup, tmp_path, clock=lambda: now[0]) as runtime:
        for failures, wait in enumerate([None, 1, 2, 4, 8], start=1):
            if wait is not None:
                now[0] += timedelta(minutes=wait) - timedelta(seconds=1)
                assert await runtime.queue_due_syncs() == [], "queued before its backoff ended"
                now[0] += timedelta(seconds=1)
            assert len(await runtime.queue_due_syncs()) == 1
            if failures == 5:
                state_changes_before_pause = _state_changed_events(setup)
            await eventually(lambda n=failures: _ended(setup, n), what=f"failed run {failures}")  # type: ignore[misc]
            integration = _integration(setup)
            assert integration.consecutive_failures == failures
            assert integration.last_sync_error and "courseStats:read" in integration.last_sync_error
        paused = _integration(setup)
        assert paused.paused_at is not None and paused.pause_reason is not None
        assert "5 consecutive failed syncs" in paused.pause_reason
        now[0] += 24 * HOUR
        assert await runtime.queue_due_syncs() == []  # paused: nothing, however long
        assert {r.state for r in _runs(setup)} == {"PARTIALLY_FAILED"}
        assert _state_changed_events(setup) == state_changes_before_pause + 1  # the pause, said once
        with serve(create_app(runtime.settings, engine=setup.db)) as base_url:
            async with httpx.AsyncClient(base_url=base_url, headers=_api_headers(setup)) as client:
                # users and courses synced fine meanwhile: they are served
                users = await client.get("/v1/lms/users")
                progressions = await client.get("/v1/lms/course-progressions")
        assert users.status_code == 200 and users.json()["data"]["results"], users.text
        assert progressions.status_code >= 400 and "courseStats:read" in progressions.text

        # the operator fixes the credential and forces a sync: the schedule resumes
        sandbox.control.set_scopes(sandbox.client_id, "all")
        with serve(create_app(runtime.settings, engine=setup.db)) as base_url:
            async with httpx.AsyncClient(base_url=base_url, headers=_api_headers(setup)) as client:
                response = await client.post("/v1/force-sync", json={"type": "FULL"})
        assert response.status_code == 200, response.text
        await eventually(lambda: _ended(setup, 6), what="the forced run")
    resumed = _integration(setup)
    forced = next(r for r in _runs(setup) if r.id == response.json()["data"]["sync_id"])
    assert forced.state == "SUCCEEDED", forced.warnings
    assert (resumed.paused_at, resumed.consecutive_failures, resumed.last_sync_error) == (None, 0, None)


async def test_cancel_a_running_sync(setup: SyncSetup, tmp_path: Path) -> None:
    setup.sandbox.control.set_latency(fixed_ms=400)  # slow enough to be caught running
    with session_scope(setup.db) as session:
        run_id = sync_runs.enqueue(session, setup.integration_id, "FULL", utcnow())[0].id
    async with working(setup, tmp_path):
        await eventually(lambda: _runs(setup)[0].state == "RUNNING", what="the run to start")
        with session_scope(setup.db) as session:
            sync_runs.request_cancel(session, run_id, utcnow())
        await eventually(lambda: _ended(setup, 1), what="the cancelled run to end")
    [run] = _runs(setup)
    assert run.state == "CANCELLED"
    assert _integration(setup).consecutive_failures == 0  # a cancel is no failure


async def test_the_retention_job_prunes_old_history(setup: SyncSetup, tmp_path: Path) -> None:
    old, now = utcnow() - timedelta(days=400), utcnow()
    with session_scope(setup.db) as session:
        stale = write_log(session, "api", integration_id=setup.integration_id, now=old).id
        fresh = write_log(session, "api", integration_id=setup.integration_id, now=now).id
    async with working(setup, tmp_path) as runtime:
        await runtime.apply_retention()
    with session_scope(setup.db, readonly=True) as session:
        assert session.get(InteractionLog, stale) is None
        assert session.get(InteractionLog, fresh) is not None


async def test_cancel_through_the_api_and_by_disabling(setup: SyncSetup, tmp_path: Path) -> None:
    setup.sandbox.control.set_latency(fixed_ms=400)
    settings = _settings(setup, tmp_path)
    headers = _api_headers(setup)
    with session_scope(setup.db) as session:
        run_id = sync_runs.enqueue(session, setup.integration_id, "FULL", utcnow())[0].id
    with serve(create_app(settings, engine=setup.db)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            path = f"/v1/integrations/{setup.integration_id}/syncs"
            # queued: cancelled at once, nothing ran
            cancelled = await client.post(f"{path}/{run_id}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["data"]["state"] == "CANCELLED"
            unknown = await client.post(f"{path}/nope/cancel")
            assert unknown.status_code == 400 and "nope" in unknown.json()["error"]["message"]

            forced = (await client.post("/v1/force-sync", json={"type": "FULL"})).json()["data"]
            async with working(setup, tmp_path):
                await eventually(
                    lambda: any(r.state == "RUNNING" for r in _runs(setup)), what="the forced run to start"
                )
                disabled = await client.put(
                    f"/v1/integrations/{setup.integration_id}/enabled", json={"value": False}
                )
                assert disabled.status_code == 200
                await eventually(lambda: _ended(setup, 2), what="the disabled integration's run to stop")
    states = {r.id: r.state for r in _runs(setup)}
    assert states == {run_id: "CANCELLED", forced["sync_id"]: "CANCELLED"}


def test_cli_force_sync_and_cancel(setup: SyncSetup, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LMSBRIDGE_")},
        "LMSBRIDGE_DATABASE_URL": setup.db.url.render_as_string(hide_password=False),
        "LMSBRIDGE_ENCRYPTION_KEY": setup.key.decode(),
        "LMSBRIDGE_DATA_DIR": str(tmp_path / "data"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lmsbridge.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    queued = cli("integrations", "force-sync", setup.integration_id, "--type", "full")
    assert queued.returncode == 0, queued.stderr
    [run] = _runs(setup)
    assert (run.type, run.state) == ("FULL", "QUEUED") and run.id in queued.stdout
    again = cli("integrations", "force-sync", setup.integration_id)
    assert "already queued" in again.stdout and len(_runs(setup)) == 1
    cancelled = cli("syncs", "cancel", run.id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert _runs(setup)[0].state == "CANCELLED"
    missing = cli("syncs", "cancel", "nope")
    assert missing.returncode == 1 and "no sync with id 'nope'" in missing.stderr
    bad = cli("integrations", "force-sync", setup.integration_id, "--type", "weekly")
    assert bad.returncode != 0 and "FULL or DELTA" in bad.stderr


async def test_a_refused_credential_makes_the_integration_invalid_until_a_sync_succeeds(
    setup: SyncSetup, tmp_path: Path
) -> None:
    sandbox = setup.sandbox
    good = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    with session_scope(setup.db) as session:
        # the customer rotated the secret in 360Learning: ours is refused at the token endpoint
        set_credentials(session, setup.box, setup.integration_id, {**good, "client_secret": "rotated"})
        run_id = sync_runs.enqueue(session, setup.integration_id, "FULL", utcnow())[0].id
    async with working(setup, tmp_path):
        await eventually(lambda: _ended(setup, 1), what="the refused run")
        [run] = _runs(setup)
        refused = _integration(setup)
        assert run.state == "AUTHENTICATION_FAILED"
        assert refused.status == "INVALID" and public_state(refused) == "INVALID"
        assert refused.consecutive_failures == 1
        with session_scope(setup.db) as session:  # relinked with the new secret
            set_credentials(session, setup.box, setup.integration_id, good)
            sync_runs.enqueue(session, setup.integration_id, "FULL", utcnow())
        await eventually(lambda: _ended(setup, 2), what="the run after the credential works again")
    assert {r.id: r.state for r in _runs(setup)}[run_id] == "AUTHENTICATION_FAILED"
    recovered = _integration(setup)
    assert (recovered.status, recovered.consecutive_failures) == ("ACTIVE", 0)
