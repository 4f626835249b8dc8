"""Figure 5: peak RSS of the syncing process (a child process; its own getrusage) during a FULL sync.
Goal: ≤ 250 MB for L, and flat from M to L.

    .venv/bin/python benchmarks/fig5_memory.py [--tenants S,M,L] [--backend sqlite]
"""

from __future__ import annotations

import argparse

from common import Bench, TenantSize, parse_tenants, record

LIMIT_MB = 250.0
FLAT = 1.15  # "flat": L within 15 % of M


def measure(bench: Bench, tenants: list[TenantSize], backend: str = "sqlite") -> None:
    peaks: dict[str, float] = {}
    for tenant in tenants:
        _, result = bench.synced_store(tenant, backend)
        peaks[tenant.name] = result.peak_rss_mb
        record(
            5,
            f"peak RSS of a FULL sync, {tenant.name}, {backend}",
            {
                "tenant": tenant.name,
                "backend": backend,
                "peak_rss_mb": result.peak_rss_mb,
                # the page-preparation helper (sync/preparer.py), a process of its own
                "helper_peak_rss_mb": result.helper_peak_rss_mb,
            },
            goal=f"≤ {LIMIT_MB:.0f} MB for L" if tenant.name == "L" else "(reported)",
            met=result.peak_rss_mb <= LIMIT_MB if tenant.name == "L" else None,
        )
    if "M" in peaks and "L" in peaks:
        ratio = peaks["L"] / peaks["M"]
        record(
            5,
            f"peak RSS flat from M to L, {backend}",
            {"M_mb": peaks["M"], "L_mb": peaks["L"], "L_over_M": round(ratio, 3)},
            goal=f"L ≤ {FLAT}× M (flat)",
            met=ratio <= FLAT,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="S,M,L")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, parse_tenants(args.tenants), args.backend)
