"""Profiles `lmsbridge serve` with py-spy (`pip install py-spy`) while the figure-6 load (16 clients,
`GET /v1/lms/course-progressions?page_size=250`) runs against a store filled by a local FULL sync.

    .venv/bin/python benchmarks/profile_api.py [--tenant S] [--backend sqlite] [--seconds 15]
    .venv/bin/python benchmarks/profile_api.py --url sqlite:////path/to/kept.db   # an existing store
    .venv/bin/python benchmarks/profile_api.py --url … --page-size 1 --gil   # a request's fixed cost
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import PYTHON, TENANTS, Bench, api_server, finish_load, mark_readable, start_load
from fig6_read_api import existing_store
from profile_sync import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="S")
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--url", help="profile over this existing store instead of syncing a fresh one")
    parser.add_argument("--page-size", type=int, default=250, help="1 shows the fixed cost of a request")
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    out = Path(tempfile.mkdtemp(prefix="lmsbridge-profile-")) / "api.collapsed"
    with Bench() as bench:
        if args.url:
            store = existing_store(args.url, analyze=False)
        else:
            store, _ = bench.synced_store(TENANTS[args.tenant.upper()], args.backend)
        mark_readable(store)
        with api_server(store) as api:
            loadgen = start_load(
                api, store.integration_id, duration_s=args.seconds + 5, page_size=args.page_size
            )
            try:
                subprocess.run(
                    [
                        py_spy,
                        "record",
                        "--format",
                        "raw",
                        "-r",
                        "200",
                        "-d",
                        str(args.seconds),
                        "-o",
                        str(out),
                        "--subprocesses",
                        "--pid",
                        str(api.proc.pid),
                        *(["--gil"] if args.gil else []),
                    ],
                    check=True,
                )
            finally:
                print(finish_load(loadgen, interrupt=True))
    summarize(out, args.top)
    print(f"raw profile: {out}")


if __name__ == "__main__":
    main()
