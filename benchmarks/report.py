"""Prints results.json as Markdown for benchmarks/README.md: one row per figure and name (the file holds the
latest run of each), then the side-by-side comparisons (figure 0, `side_by_side.py`) as new ÷ old ratios.

.venv/bin/python benchmarks/report.py
"""

from __future__ import annotations

import json
from typing import Any

from common import RESULTS

SKIP = {"calls_by_route", "delta_calls_by_route", "remote_calls_by_route", "error_samples", "remote_counts"}
# the ratios a side-by-side row shows, where the figure has them
COMPARED = (
    "wall_s",
    "records_per_s",
    "cpu_s",
    "sync_cpu_s",
    "sync_cpu_s_per_1000_records",
    "calls",
    "peak_rss_mb",
    "helper_peak_rss_mb",
    "server_cpu_ms_per_page",
    "pages_per_s",
    "p99_ms",
    "visible_in_api_s",
    "delta_calls",
    "sync_wall_s",
)


def machine(entry: dict[str, Any]) -> str:
    m = entry["machine"]
    return f"{m['cpu']}, {m['cores']} cores, load {m['load_avg_at_start'][0]}"


def main() -> None:
    entries: list[dict[str, Any]] = json.loads(RESULTS.read_text())
    print("| figure | name | figures | goal | met | command | date | commit | machine |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for entry in sorted((e for e in entries if e["figure"] > 0), key=lambda e: (e["figure"], e["name"])):
        figures = ", ".join(
            f"{k}={v}"
            for k, v in entry["figures"].items()
            if k not in SKIP and not isinstance(v, dict | list)
        )
        verdict = {True: "met", False: "missed", None: "—"}[entry["goal_met"]]
        print(
            f"| {entry['figure']} | {entry['name']} | {figures} | {entry['goal']} | {verdict} "
            f"| `{entry['command']}` | {entry['date']} | {entry['commit']} | {machine(entry)} |"
        )
    print("\n| side by side | entry | new ÷ old (medians) | rounds | date | commit |")
    print("| --- | --- | --- | --- | --- | --- |")
    for entry in (e for e in entries if e["figure"] == 0):
        for name, compared in entry["figures"]["entries"].items():
            metrics = compared["metrics"]
            ratios = ", ".join(
                f"{key} {metrics[key]['ratio_of_medians']}" for key in COMPARED if key in metrics
            )
            print(
                f"| `{entry['command']}` | {name} | {ratios} | {entry['figures']['rounds']} "
                f"| {entry['date']} | {entry['commit']} |"
            )


if __name__ == "__main__":
    main()
