"""One figure for two checkouts of lmsbridge, alternated in one run (old, new, new, old, …), so that a
shared machine's drift falls on both: prints every numeric figure of both, their medians and the ratio
new ÷ old, and stores the comparison in results.json (figure 0, named after the figure's script).

The figure's script is this checkout's; only the product code differs (``PYTHONPATH=<checkout>/src``,
inherited by the sandbox, the syncing child and the API servers). A checkout of another commit:
``git worktree add ../base <commit> && make -C ../base install``.

    .venv/bin/python benchmarks/side_by_side.py --old ../base --new . [--rounds 3] \
        [--old-env NAME=VALUE …] [--new-env NAME=VALUE …] -- fig3_ingest.py --tenants M --backends sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH_DIR, record


def run_once(checkout: Path, env: dict[str, str], script: list[str]) -> list[dict[str, Any]]:
    """The entries one run of ``script`` records, with ``checkout``'s product code."""
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        child_env = {
            **os.environ,
            **env,
            "PYTHONPATH": str(checkout.resolve() / "src"),
            "LMSBRIDGE_BENCH_RESULTS": str(results),
        }
        subprocess.run([sys.executable, str(BENCH_DIR / script[0]), *script[1:]], env=child_env, check=True)
        entries: list[dict[str, Any]] = json.loads(results.read_text())
        return entries


def checkout_commit(checkout: Path) -> str:
    command = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(command, cwd=checkout, capture_output=True, text=True).stdout.strip() or "unknown"


def numbers(figures: dict[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in figures.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=Path, required=True, help="checkout of the code before")
    parser.add_argument("--new", type=Path, required=True, help="checkout of the code after")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--old-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--new-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- figure script and its arguments")
    args = parser.parse_args()
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    if not script:
        parser.error("name the figure's script after --")
    sides = {
        "old": (args.old, dict(pair.split("=", 1) for pair in args.old_env)),
        "new": (args.new, dict(pair.split("=", 1) for pair in args.new_env)),
    }
    # entry name → side → metric → values over rounds
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    figure_of: dict[str, int] = {}
    for round_ in range(args.rounds):
        order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
        for side in order:
            checkout, env = sides[side]
            print(f"--- round {round_ + 1}, {side} ({checkout})", flush=True)
            for entry in run_once(checkout, env, script):
                figure_of[entry["name"]] = entry["figure"]
                per_metric = values.setdefault(entry["name"], {}).setdefault(side, {})
                for metric, value in numbers(entry["figures"]).items():
                    per_metric.setdefault(metric, []).append(value)
    comparison: dict[str, Any] = {}
    for name, by_side in values.items():
        print(f"\n{name}")
        rows: dict[str, Any] = {}
        for metric, old in by_side.get("old", {}).items():
            new = by_side.get("new", {}).get(metric, [])
            if not new:
                continue
            old_median, new_median = statistics.median(old), statistics.median(new)
            ratio = round(new_median / old_median, 3) if old_median else None
            rows[metric] = {"old": old, "new": new, "ratio_of_medians": ratio}
            print(f"  {metric:40} old {old_median:>12.4g}  new {new_median:>12.4g}  new÷old {ratio}")
        comparison[name] = {"figure": figure_of[name], "metrics": rows}
    record(
        0,
        f"side by side: {' '.join(script)}",
        {
            "old": f"{args.old} ({checkout_commit(args.old)})",
            "new": f"{args.new} ({checkout_commit(args.new)})",
            "old_env": sides["old"][1],
            "new_env": sides["new"][1],
            "rounds": args.rounds,
            "entries": comparison,
        },
        goal="every figure within 10 % of the old code's",
        met=None,
    )


if __name__ == "__main__":
    main()
