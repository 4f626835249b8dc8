"""Figure 3: local ingest speed of a FULL sync (sandbox latency 0, limits off, client budget lifted):
remote records per second end to end, CPU seconds per 1,000 records (syncing process and sandbox),
on SQLite and PostgreSQL. Goal: ≥ 30,000 records/s on SQLite for M.

    .venv/bin/python benchmarks/fig3_ingest.py [--tenants S,M] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse

from common import Bench, TenantSize, parse_tenants, record, stored_counts

GOAL = 30_000


def measure(bench: Bench, tenants: list[TenantSize], backends: list[str]) -> None:
    for tenant in tenants:
        for backend in backends:
            store, result = bench.synced_store(tenant, backend)
            figures = {
                "tenant": tenant.name,
                "backend": backend,
                "records_fetched": result.records_fetched,
                "stored_rows": stored_counts(store),
                "wall_s": result.wall_s,
                "records_per_s": round(result.records_per_s),
                **result.cpu_figures(),
                "sync_cpu_s_per_1000_records": round(1000 * result.cpu_s / result.records_fetched, 4),
                "calls": result.sandbox_calls,
            }
            gated = tenant.name == "M" and backend == "sqlite"
            record(
                3,
                f"ingest speed, {tenant.name}, {backend}",
                figures,
                goal=f"≥ {GOAL:,} records/s on SQLite for M" if gated else "(reported, no goal)",
                met=result.records_per_s >= GOAL if gated else None,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="S,M")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, parse_tenants(args.tenants), args.backends.split(","))
