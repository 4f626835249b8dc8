"""Prints the latest entry of every figure in results.json as Markdown (for benchmarks/README.md).
Entries marked ``experiment`` (side-by-side runs under settings the entry alone does not show) are left
out.

.venv/bin/python benchmarks/report.py [--since 2026-11-27T09:50]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from common import RESULTS

SKIP = {"calls_by_route", "delta_calls_by_route", "remote_calls_by_route", "error_samples", "remote_counts"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", default="", help="ignore entries older than this ISO date")
    args = parser.parse_args()
    latest: dict[str, dict[str, Any]] = {}
    for entry in json.loads(RESULTS.read_text()):
        if entry["date"] >= args.since and "experiment" not in entry:
            latest[entry["name"]] = entry
    for entry in sorted(latest.values(), key=lambda e: (e["figure"], e["date"])):
        verdict = {True: "**met**", False: "**missed**", None: "—"}[entry["goal_met"]]
        figures = ", ".join(f"{k}={v}" for k, v in entry["figures"].items() if k not in SKIP)
        print(f"- Fig {entry['figure']} — {entry['name']}: {figures}. Goal: {entry['goal']} → {verdict}")
        load = entry["machine"]["load_avg_at_start"][0]
        print(f"  `{entry['command']}` · {entry['date']} · commit {entry['commit']} · load {load}")


if __name__ == "__main__":
    main()
