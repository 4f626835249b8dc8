"""Figure 1: calls of a FULL sync (sandbox counters) against the minimal count of the reference (§5),
plus the documented partitioning allowance (docs/sync.md). Goal: ≤ minimal + 2 % + allowance.

    .venv/bin/python benchmarks/fig1_call_count.py [--tenants S,M,L] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import math

from common import Bench, TenantSize, minimal_full_calls, parse_tenants, partition_allowance, record


def measure(bench: Bench, tenants: list[TenantSize], backend: str = "sqlite") -> None:
    for tenant in tenants:
        sb = bench.sandbox(tenant)
        counts = sb.counts()
        _, result = bench.synced_store(tenant, backend)
        minimal = minimal_full_calls(counts)
        allowance = partition_allowance(counts)
        limit = math.floor(minimal * 1.02) + allowance
        record(
            1,
            f"FULL sync call count, {tenant.name}",
            {
                "tenant": tenant.name,
                "remote_counts": counts,
                "calls": result.sandbox_calls,
                "calls_by_route": result.calls_by_route,
                "minimal": minimal,
                "partition_allowance": allowance,
                "over_minimal_pct": round(100 * (result.sandbox_calls - minimal) / minimal, 2),
                "limit": limit,
            },
            goal="calls ≤ minimal + 2 % + partitioning allowance (⌈C/150⌉ − 1)",
            met=result.sandbox_calls <= limit,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="S,M")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, parse_tenants(args.tenants), args.backend)
