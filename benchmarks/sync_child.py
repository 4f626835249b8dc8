"""Runs one sync in its own process and prints one JSON line (wall, CPU, peak RSS, records fetched), so
the benchmarks see the syncing process alone. Used by `common.run_sync`; the Fernet key comes from the
environment (LMSBRIDGE_BENCH_KEY), never from the command line.

    LMSBRIDGE_BENCH_KEY=… python benchmarks/sync_child.py --url sqlite:///… \
        --integration 360learning:… --type FULL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import time
from pathlib import Path

from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from lmsbridge.sync.progress import NoProgress


class CountingProgress(NoProgress):
    """Counts the remote records of every fetched page (the other callbacks: NoProgress's)."""

    def __init__(self) -> None:
        self.records = 0
        self.pages = 0

    def page_done(self, stream: str, key: str, items: int) -> None:
        self.records += items
        self.pages += 1


async def main(args: argparse.Namespace) -> dict[str, object]:
    db = make_engine(args.url)
    box = SecretBox(os.environ["LMSBRIDGE_BENCH_KEY"].encode())
    options = SyncOptions(reads_per_second=args.reads_per_second, prepare_in_helper=not args.no_helper)
    engine = SyncEngine(db, box, options=options)
    progress = CountingProgress()
    cpu0, helper_cpu0, wall0 = time.process_time(), _children_cpu(), time.perf_counter()
    loop_cpu0 = time.thread_time()
    outcome = await engine.run_new(args.integration, args.type, progress=progress)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # the event loop's own thread: fetching, decoding, planning; the rest of `cpu` is the writer's thread
    loop_cpu = time.thread_time() - loop_cpu0
    # the page-preparation helper (sync/preparer.py) has exited by now: its CPU is on record (its peak
    # RSS is sampled by the parent, common.ChildrenPeakRss: a child's ru_maxrss includes ours at its fork)
    helper_cpu = _children_cpu() - helper_cpu0
    db.dispose()
    return {
        "state": outcome.state,
        "error": outcome.error,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu + helper_cpu, 3),
        "helper_cpu_s": round(helper_cpu, 3),
        "loop_thread_cpu_s": round(loop_cpu, 3),
        "writer_threads_cpu_s": round(cpu - loop_cpu, 3),
        "peak_rss_mb": round(_peak_rss_kib() / 1024, 1),
        "records_fetched": progress.records,
        "pages": progress.pages,
        "api_calls": outcome.api_calls,
    }


def _peak_rss_kib() -> int:
    """This process's own peak RSS: VmHWM on Linux. Not ru_maxrss: a child's ru_maxrss starts at its
    parent's RSS when it was spawned (the benchmark's own process, ~100 MB, outweighed an S sync)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--integration", required=True)
    parser.add_argument("--type", default="FULL", choices=["FULL", "DELTA"])
    parser.add_argument("--reads-per-second", type=float, default=None)
    parser.add_argument("--no-helper", action="store_true", help="prepare pages in the syncing process")
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
