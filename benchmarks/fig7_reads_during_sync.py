"""Figure 7: the read load of figure 6 (16 clients, page_size=250, no filter) while a FULL sync of the same
integration runs (latency 0 and limits off: the sync writes as fast as it can, the worst case for readers).
Goal: 0 errors and p99 ≤ 200 ms.

By default the sync runs in a process of its own (`sync_child.py`: the `lmsbridge worker` next to
`serve` deployment). `--sync-in-server` has the server run it instead (`POST /v1/force-sync`): with
`serve --workers N` alone, one API worker also runs the syncs.

    .venv/bin/python benchmarks/fig7_reads_during_sync.py [--tenant M] [--backend sqlite] [--sync-in-server]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

import httpx

from common import (
    TENANTS,
    UNLIMITED,
    Api,
    Bench,
    TenantSize,
    api_server,
    finish_load,
    mark_readable,
    record,
    run_sync,
    start_load,
)

P99_MS = 200.0


def measure(bench: Bench, tenant: TenantSize, backend: str = "sqlite", *, in_server: bool = False) -> None:
    store, first = bench.synced_store(tenant, backend)
    mark_readable(store)
    sb = bench.sandbox(tenant)
    # the server's own syncs: local work only, as in sync_child.py
    settings = {"LMSBRIDGE_REMOTE_READS_PER_SECOND": str(UNLIMITED)} if in_server else None
    with api_server(store, settings=settings) as api:
        loadgen = start_load(api, store.integration_id, duration_s=3600)
        try:
            if in_server:
                sync = sync_in_server(api, store.integration_id)
            else:
                result = run_sync(sb, store, "FULL")
                sync = {"sync_state": result.state, "sync_wall_s": result.wall_s}
        finally:
            summary = finish_load(loadgen, interrupt=True)
    p99 = summary["p99_ms"]
    met = summary["errors"] == 0 and p99 is not None and p99 <= P99_MS and sync["sync_state"] == "SUCCEEDED"
    where = "in an API worker" if in_server else "in its own process"
    record(
        7,
        f"reads during a FULL sync, {tenant.name}, {backend}" + (", sync in the server" if in_server else ""),
        {
            "tenant": tenant.name,
            "backend": backend,
            "sync_runs": where,
            **sync,
            "sync_wall_s_without_readers": first.wall_s,
            **summary,
        },
        goal=f"0 errors, p99 ≤ {P99_MS:.0f} ms",
        met=met,
    )


def sync_in_server(api: Api, integration_id: str, timeout_s: float = 1800.0) -> dict[str, Any]:
    """A FULL sync queued through the API and run by the server's background worker; waits for its end."""
    headers = {"Authorization": f"Bearer {api.api_key}", "X-Integration-Id": integration_id}
    with httpx.Client(base_url=api.base_url, headers=headers, timeout=30) as client:
        queued = client.post("/v1/force-sync", json={"type": "FULL"})
        queued.raise_for_status()
        sync_id = queued.json()["data"]["sync_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = client.get(f"/v1/integrations/{integration_id}/syncs").json()["data"]
            run = next((r for r in runs if r["id"] == sync_id), None)
            if run is not None and run["ended_at"] is not None:
                started = dt.datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
                ended = dt.datetime.fromisoformat(run["ended_at"].replace("Z", "+00:00"))
                wall_s = round((ended - started).total_seconds(), 3)
                return {"sync_state": run["state"], "sync_wall_s": wall_s}
            time.sleep(0.5)  # polling the run's state, with a deadline
    raise TimeoutError(f"sync {sync_id} did not end within {timeout_s:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="M")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--sync-in-server", action="store_true", help="the API server runs the sync")
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, TENANTS[args.tenant.upper()], args.backend, in_server=args.sync_in_server)
