"""Profiles one local FULL sync (latency 0, limits off) with py-spy (`pip install py-spy`): samples the
syncing child process and prints the functions with the most inclusive and self time.

    .venv/bin/python benchmarks/profile_sync.py [--tenant S] [--backend sqlite] [--top 25] [--gil]
        [--helper]

With ``--helper`` the helper's samples count too (each stack starts with its process), so shares are of
both processes' samples together.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import PYTHON, TENANTS, UNLIMITED, fresh_store, sandbox


def summarize(collapsed: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print("self:")
    for frame, count in own.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="S")
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (Python work, not waits)"
    )
    parser.add_argument(
        "--helper", action="store_true", help="sample the page-preparation helper process too"
    )
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    out = Path(tempfile.mkdtemp(prefix="lmsbridge-profile-")) / "sync.collapsed"
    with sandbox(TENANTS[args.tenant.upper()]) as sb, fresh_store(args.backend, sb) as store:
        env = {**os.environ, "LMSBRIDGE_BENCH_KEY": store.key.decode()}
        child = [PYTHON, str(Path(__file__).parent / "sync_child.py"), "--url", store.url]
        child += ["--integration", store.integration_id, "--reads-per-second", str(UNLIMITED)]
        sampling = (["--gil"] if args.gil else []) + (["--subprocesses"] if args.helper else [])
        subprocess.run(
            [py_spy, "record", "--format", "raw", "-r", "200", *sampling, "-o", str(out), "--", *child],
            env=env,
            check=True,
        )
    summarize(out, args.top)
    print(f"raw profile: {out}")


if __name__ == "__main__":
    main()
