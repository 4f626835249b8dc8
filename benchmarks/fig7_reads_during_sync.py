"""Figure 7: the read load of figure 6 (16 clients, page_size=250, no filter) while a FULL sync of the same
integration runs (latency 0 and limits off: the sync writes as fast as it can, the worst case for readers).
Goal: 0 errors and p99 ≤ 200 ms.

    .venv/bin/python benchmarks/fig7_reads_during_sync.py [--tenant M] [--backend sqlite]
"""

from __future__ import annotations

import argparse

from common import (
    TENANTS,
    Bench,
    TenantSize,
    api_server,
    finish_load,
    mark_readable,
    record,
    run_sync,
    start_load,
)

P99_MS = 200.0


def measure(bench: Bench, tenant: TenantSize, backend: str = "sqlite") -> None:
    store, first = bench.synced_store(tenant, backend)
    mark_readable(store)
    sb = bench.sandbox(tenant)
    with api_server(store) as api:
        loadgen = start_load(api, store.integration_id, duration_s=3600)
        try:
            result = run_sync(sb, store, "FULL")
        finally:
            summary = finish_load(loadgen, interrupt=True)
    p99 = summary["p99_ms"]
    met = summary["errors"] == 0 and p99 is not None and p99 <= P99_MS and result.state == "SUCCEEDED"
    record(
        7,
        f"reads during a FULL sync, {tenant.name}, {backend}",
        {
            "tenant": tenant.name,
            "backend": backend,
            "sync_state": result.state,
            "sync_wall_s": result.wall_s,
            "sync_wall_s_without_readers": first.wall_s,
            **summary,
        },
        goal=f"0 errors, p99 ≤ {P99_MS:.0f} ms",
        met=met,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="M")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, TENANTS[args.tenant.upper()], args.backend)
