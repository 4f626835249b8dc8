"""A sync through 5xx, hangs, truncated bodies, 429 bursts and a token revocation ends with the same
store as a clean sync of the same tenant."""

from __future__ import annotations

import time

from sync_support import SyncSetup, add_integration, fingerprint

from lmsbridge.connectors.learning360.config import ClientOptions, RetryPolicy
from lmsbridge.sync.engine import SyncEngine, SyncOptions

FAST_RETRY = RetryPolicy(max_attempts=12, max_seconds=60, initial_wait=0.01, max_wait=0.1, throttle_wait=0.02)


async def test_faulty_sync_equals_clean_sync(setup: SyncSetup) -> None:
    control = setup.sandbox.control
    # small pages: enough calls for the fault rates below to fire many times
    control.configure(page_sizes={"users": 10, "courses": 5, "stats": 25, "integrations": 1})
    clean_id = add_integration(setup)
    clean = await setup.engine.run_new(clean_id, "FULL")
    assert clean.state == "SUCCEEDED", clean.error

    control.reset_counters()
    control.set_faults(
        [
            {"kind": "revoke_tokens", "route": "GET /api/v2/courses/stats", "after": 3, "count": 1},
            {"kind": "status", "status": 503, "probability": 0.05},
            {"kind": "status", "status": 500, "probability": 0.03},
            {"kind": "hang", "hang_seconds": 3, "probability": 0.02},
            {"kind": "truncate", "probability": 0.02},
            {"kind": "drop", "probability": 0.02},
            {"kind": "burst429", "probability": 0.05},
        ],
        seed=5,
    )
    faulty_engine = SyncEngine(
        setup.db,
        setup.box,
        options=SyncOptions(
            connector_options=dict(ids_per_partition=7, options=ClientOptions.with_timeout(0.5, FAST_RETRY))
        ),
    )
    faulty = await faulty_engine.run_new(setup.integration_id, "FULL")
    faults = control.counters()["faults"]
    control.clear_faults()

    assert faulty.state == "SUCCEEDED", faulty.error
    kinds = set(faults) if isinstance(faults, dict) else set()
    assert {"status", "hang", "truncate", "burst429", "revoke_tokens"} <= kinds, faults
    assert fingerprint(setup.db, setup.integration_id) == fingerprint(setup.db, clean_id)


async def test_a_sync_under_half_429s_completes_slower_instead_of_failing(setup: SyncSetup) -> None:
    """Half of all answers 429, and three token revocations: the budget slows down, the run completes.
    (Before, 8 attempts per call gave up and the run ended PARTIALLY_FAILED or AUTHENTICATION_FAILED.)"""
    control = setup.sandbox.control
    control.configure(page_sizes={"users": 10, "courses": 5, "stats": 25, "integrations": 1})
    clean_id = add_integration(setup)
    assert (await setup.engine.run_new(clean_id, "FULL")).state == "SUCCEEDED"
    control.reset_counters()
    control.set_faults(
        [
            {"kind": "burst429", "probability": 0.5},
            {"kind": "revoke_tokens", "route": "GET /api/v2/users", "count": 3},
        ],
        seed=9,
    )
    # the product's attempt bound for other failures; 429s are retried for as long as the run needs
    patient = RetryPolicy(
        max_attempts=8, max_seconds=60, initial_wait=0.01, max_wait=0.05, throttle_wait=0.01
    )
    engine = SyncEngine(
        setup.db,
        setup.box,
        options=SyncOptions(
            connector_options=dict(ids_per_partition=7, options=ClientOptions.with_timeout(5.0, patient))
        ),
    )
    outcome = await engine.run_new(setup.integration_id, "FULL")
    counters = control.counters()
    control.clear_faults()
    assert outcome.state == "SUCCEEDED", (outcome.error, outcome.warnings)
    assert counters["too_many_requests"] >= 20  # about half of the answers
    assert counters["faults"]["revoke_tokens"] == 3
    assert fingerprint(setup.db, setup.integration_id) == fingerprint(setup.db, clean_id)


async def test_a_sync_to_a_refused_host_fails_at_once_with_the_reason(setup: SyncSetup) -> None:
    """A host the address check refuses (here: the loopback sandbox, private hosts not allowed) is not a
    network failure: no retry, the run ends FAILED naming the host."""
    refused = ClientOptions.with_timeout(5.0, FAST_RETRY, allow_private_hosts=False)
    engine = SyncEngine(setup.db, setup.box, options=SyncOptions(connector_options={"options": refused}))
    started = time.monotonic()
    outcome = await engine.run_new(setup.integration_id, "FULL")
    assert outcome.state == "FAILED"
    assert outcome.warnings and all("LMSBRIDGE_ALLOW_PRIVATE_HOSTS" in w for w in outcome.warnings)
    assert time.monotonic() - started < 10  # FAST_RETRY would retry a network failure for up to 60 s
    assert setup.sandbox.control.counters()["calls"] == {}
