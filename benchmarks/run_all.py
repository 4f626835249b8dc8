"""All figures in one run (`make bench`): one sandbox per tenant and one synced store per
(tenant, backend) are shared by the figures. Stores every figure in benchmarks/results.json.

    .venv/bin/python benchmarks/run_all.py [--tenants S,M,L] [--figures 1,2,3,4,5,6,7,8]

L (100k users / 10k courses / 2M attempts) needs ~1 GB of memory for the sandbox, a few GB of disk
and, on a 2-core machine, the better part of an hour; `--tenants S,M` is the quick run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import fig1_call_count
import fig2_realistic
import fig3_ingest
import fig4_delta
import fig5_memory
import fig6_read_api
import fig7_reads_during_sync
import fig8_action_burst
from common import TENANTS, Bench, parse_tenants


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="S,M,L")
    parser.add_argument("--figures", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--read-duration", type=float, default=20.0, help="seconds per read-load variant")
    args = parser.parse_args()
    tenants = parse_tenants(args.tenants)
    names = {t.name for t in tenants}
    figures = {int(f) for f in args.figures.split(",")}
    largest = max(tenants, key=lambda t: t.attempts)
    failed: list[str] = []
    started = time.monotonic()
    with Bench() as bench:
        steps: list[tuple[int, Callable[[], None]]] = [
            (1, lambda: fig1_call_count.measure(bench, tenants)),
            (3, lambda: fig3_ingest.measure(bench, tenants, ["sqlite", "postgres"])),
            (5, lambda: fig5_memory.measure(bench, tenants)),
            (6, lambda: fig6_read_api.measure(bench, largest, ["sqlite", "postgres"], args.read_duration)),
            (7, lambda: fig7_reads_during_sync.measure(bench, TENANTS["M"] if "M" in names else largest)),
            (8, lambda: fig8_action_burst.measure(bench, TENANTS["M"] if "M" in names else largest, 1000)),
            (2, lambda: fig2_realistic.measure(bench, tenants, names & {"S", "M"})),
            # last: it changes the tenants
            (4, lambda: fig4_delta.measure(bench, [t for t in tenants if t.name != "L"] or tenants)),
        ]
        for number, step in steps:
            if number not in figures:
                continue
            print(f"--- figure {number} ({time.monotonic() - started:.0f}s) ---", flush=True)
            try:
                step()
            except (
                Exception
            ) as exc:  # one figure failing must not lose the others (Ctrl-C/SIGTERM still stop)
                print(f"figure {number} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                failed.append(str(number))
    print(f"done in {time.monotonic() - started:.0f}s; failed figures: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
