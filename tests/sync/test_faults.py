"""A sync through 5xx, hangs, truncated bodies, 429 bursts and a token revocation ends with the same
store as a clean sync of the same tenant."""

from __future__ import annotations

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
        options=SyncOptions(ids_per_partition=7, client_options=ClientOptions.with_timeout(0.5, FAST_RETRY)),
    )
    faulty = await faulty_engine.run_new(setup.integration_id, "FULL")
    faults = control.counters()["faults"]
    control.clear_faults()

    assert faulty.state == "SUCCEEDED", faulty.error
    kinds = set(faults) if isinstance(faults, dict) else set()
    assert {"status", "hang", "truncate", "burst429", "revoke_tokens"} <= kinds, faults
    assert fingerprint(setup.db, setup.integration_id) == fingerprint(setup.db, clean_id)
