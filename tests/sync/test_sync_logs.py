"""The process log of a sync: one start line, one end line with the run's figures, a line per stream
failure and per retry with its reason, all naming the integration and the run; and no secret anywhere."""

from __future__ import annotations

from sync_support import SyncSetup

from lmsbridge.connectors.learning360.config import ClientOptions, RetryPolicy
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import session_scope
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from log_capture import captured_log

FAST_RETRY = RetryPolicy(max_attempts=3, max_seconds=30, initial_wait=0.01, max_wait=0.05, throttle_wait=0.01)


async def test_a_faulty_sync_logs_start_end_failures_and_retries(setup: SyncSetup) -> None:
    control = setup.sandbox.control
    control.set_faults(
        [
            {"kind": "burst429", "route": "GET /api/v2/users", "count": 2},
            # every stats call fails: the stream is given up, the run ends PARTIALLY_FAILED
            {"kind": "status", "route": "GET /api/v2/courses/stats", "status": 502},
        ]
    )
    engine = SyncEngine(
        setup.db,
        setup.box,
        options=SyncOptions(connector_options={"options": ClientOptions.with_timeout(5, FAST_RETRY)}),
    )
    with captured_log("DEBUG") as log:
        outcome = await engine.run_new(setup.integration_id, "FULL")
    control.clear_faults()
    assert outcome.state == "PARTIALLY_FAILED", outcome.error
    with session_scope(setup.db, readonly=True) as session:
        run = sync_runs.get_run(session, outcome.run_id)
        assert run is not None
        stored_counts = run.streams["counts"]
    ids = {"integration_id": setup.integration_id, "run_id": outcome.run_id}

    (started,) = log.events("sync.started")
    assert started | ids == started
    assert started["sync_type"] == "FULL" and started["resumed"] is False
    assert started["level"] == "info" and started["timestamp"]

    (finished,) = log.events("sync.finished")
    assert finished | ids == finished
    assert finished["level"] == "warning"
    assert finished["state"] == "PARTIALLY_FAILED"
    assert finished["records"] == stored_counts
    assert finished["records"]["users"]["seen"] == len(setup.sandbox.tenant.users)
    assert finished["api_calls"] == outcome.api_calls > 0
    assert finished["throttled"] == 2
    # two 429s on users, two retries of each stats partition's failing call
    assert finished["retries"] >= 2 + 2
    assert 0 < finished["duration_s"] < 60
    assert "stats" in finished["reason"] and finished["warnings"] == outcome.warnings

    (failed,) = log.events("sync.stream_failed")
    assert failed | ids == failed
    assert failed["stream"] == "stats" and "502" in failed["reason"]

    retries = log.events("remote.retry")
    assert all(line | ids == line for line in retries)  # bound context reaches the HTTP client
    assert sum(1 for line in retries if line["throttled"]) == 2
    assert any("502" in line["reason"] for line in retries)

    # no secret in any line: the client secret, the tokens the tenant issued, the encryption key
    secrets = [setup.sandbox.client_secret, *setup.sandbox.tenant.tokens, setup.key.decode()]
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in log.text
