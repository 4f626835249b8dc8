"""Figure 4: a DELTA sync after changing 1 % of users, courses and attempts (sandbox control API), against
the FULL sync just before it; both under realistic conditions (200 ± 50 ms, limits on).
Goal: DELTA calls ≤ 10 % of FULL calls.

Changes: 1 % of users renamed, 1 % of courses edited (`modifiedAt` moves), 1 % of attempts (chosen among
the not-yet-completed ones) advanced to completion, which is what a delta can see (docs/sync.md).

    .venv/bin/python benchmarks/fig4_delta.py [--tenants S,M]
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import httpx

from common import (
    SEED,
    Bench,
    Sandbox,
    Store,
    TenantSize,
    fetch_token,
    fresh_store,
    parse_tenants,
    record,
    run_sync,
)


def _all(sb: Sandbox, client: httpx.Client, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"{sb.base_url}{path}"
    while url:
        response = client.get(url, headers=headers)
        response.raise_for_status()
        rows.extend(response.json())
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return rows


def mutate_one_percent(sb: Sandbox) -> dict[str, int]:
    rng = random.Random(SEED)
    with httpx.Client(timeout=60) as client:
        headers = {"Authorization": f"Bearer {fetch_token(sb, client)}", "360-api-version": "v2.0"}
        users = _all(sb, client, "/api/v2/users", headers)
        courses = _all(sb, client, "/api/v2/courses", headers)
        attempts = _all(sb, client, "/api/v2/courses/stats", headers)
    open_attempts = [a for a in attempts if not a.get("completedAt")]
    picked_users = rng.sample([u for u in users if u["status"] != "deleted"], max(1, len(users) // 100))
    picked_courses = rng.sample([c for c in courses if c["status"] != "deleted"], max(1, len(courses) // 100))
    picked_attempts = rng.sample(open_attempts, min(len(open_attempts), max(1, len(attempts) // 100)))
    for i, user in enumerate(picked_users):
        sb.control.update_user(user["_id"], firstName=f"Bench{i}")
    for i, course in enumerate(picked_courses):
        sb.control.edit_course(course["_id"], name=f"Bench course {i}")
    for attempt in picked_attempts:
        sb.control.update_attempt(attempt["_id"], progress=100)
    return {"users": len(picked_users), "courses": len(picked_courses), "attempts": len(picked_attempts)}


def delta_streams(store: Store) -> dict[str, Any]:
    from sqlalchemy import select

    from lmsbridge.store.engine import make_engine, session_scope
    from lmsbridge.store.schema import SyncRun

    engine = make_engine(store.url)
    try:
        with session_scope(engine, readonly=True) as session:
            run = session.scalars(
                select(SyncRun).where(SyncRun.type == "DELTA").order_by(SyncRun.created_at.desc())
            ).first()
            return {} if run is None else dict((run.streams or {}).get("counts") or {})
    finally:
        engine.dispose()


def measure(bench: Bench, tenants: list[TenantSize]) -> None:
    for tenant in tenants:
        sb = bench.sandbox(tenant)
        try:
            with fresh_store("sqlite", sb) as store:
                sb.realistic()
                full = run_sync(sb, store, "FULL", reads_per_second=None)
                sb.local()
                changed = mutate_one_percent(sb)
                sb.realistic()
                delta = run_sync(sb, store, "DELTA", reads_per_second=None)
                streams = delta_streams(store)
        finally:
            sb.local()
        ratio = delta.sandbox_calls / full.sandbox_calls
        record(
            4,
            f"DELTA after 1 % changes vs FULL, {tenant.name}",
            {
                "tenant": tenant.name,
                "changed_remote": changed,
                "full_calls": full.sandbox_calls,
                "full_wall_s": full.wall_s,
                "delta_state": delta.state,
                "delta_calls": delta.sandbox_calls,
                "delta_calls_by_route": delta.calls_by_route,
                "delta_wall_s": delta.wall_s,
                "delta_records_fetched": delta.records_fetched,
                "delta_streams": streams,
                "calls_ratio": round(ratio, 4),
                "wall_ratio": round(delta.wall_s / full.wall_s, 3),
            },
            goal="DELTA calls ≤ 10 % of FULL calls",
            met=ratio <= 0.10 and delta.state == "SUCCEEDED",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="S,M")
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, parse_tenants(args.tenants))
