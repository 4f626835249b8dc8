"""Figure 8: an action burst: 1,000 enroll calls (`POST /v1/lms/course-progressions`) issued at once
(at most 30 in flight: Kombo's per-integration limit, beyond which the API answers 429), through the
API served by `lmsbridge serve`, into an external course that lmsbridge created first
(`POST /v1/lms/courses/bulk`; 360Learning accepts enrollments only into its own integration's courses).
Reports: bulk operations used (sandbox counters), time until all 1,000 progressions are visible in the
read API and until 360Learning (the sandbox) holds them, errors. Goal: 0 errors, bulk operations used.

    .venv/bin/python benchmarks/fig8_action_burst.py [--tenant S] [--calls 1000]

Fails with a clear "not available" message when the API does not offer the actions endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx

from common import TENANTS, Bench, Store, TenantSize, api_server, mark_readable, record

DEADLINE_S = 300.0


class FigureUnavailable(RuntimeError):
    """The API lacks what the figure needs."""


REQUIRED = ("PostLmsCoursesBulk", "GetLmsCoursesBulkTaskId", "PostLmsCourseProgressions")


def available_operations(client: httpx.Client) -> set[str]:
    spec = client.get("/v1/openapi.json").raise_for_status().json()
    return {
        str(op.get("operationId"))
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
    }


def poll(what: str, check: Any, deadline: float) -> float:
    """Poll `check()` until truthy; returns the time it took. No fixed sleeps as synchronisation."""
    started = time.monotonic()
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done within the deadline ({DEADLINE_S:.0f}s for the figure)")
        time.sleep(0.2)
    return time.monotonic() - started


def active_users(client: httpx.Client, n: int) -> list[str]:
    ids: list[str] = []
    params: dict[str, Any] = {"page_size": 250}
    while len(ids) < n:
        data = client.get("/v1/lms/users", params=params).raise_for_status().json()["data"]
        ids += [
            u["id"] for u in data["results"] if u.get("status") == "ACTIVE" and not u.get("remote_deleted_at")
        ]
        if not data["next"]:
            break
        params = {"page_size": 250, "cursor": data["next"]}
    return ids[:n]


async def burst(
    base_url: str, headers: dict[str, str], bodies: list[dict[str, str]], concurrency: int
) -> list[httpx.Response | str]:
    """All calls issued at once, at most `concurrency` in flight (Kombo allows 30 per integration)."""
    limits = httpx.Limits(max_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=120) as client:

        async def one(body: dict[str, str]) -> httpx.Response | str:
            async with slots:
                try:
                    return await client.post("/v1/lms/course-progressions", json=body)
                except httpx.HTTPError as exc:
                    return type(exc).__name__

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.text[:80]


def measure(bench: Bench, tenant: TenantSize, calls: int, concurrency: int = 30) -> None:
    store: Store
    store, _ = bench.synced_store(tenant, "sqlite")
    mark_readable(store)
    sb = bench.sandbox(tenant)
    with api_server(store) as api:
        headers = {"Authorization": f"Bearer {api.api_key}", "X-Integration-Id": store.integration_id}
        with httpx.Client(base_url=api.base_url, headers=headers, timeout=60) as client:
            missing = [op for op in REQUIRED if op not in available_operations(client)]
            if missing:
                print(
                    f"figure 8 not available: the API does not offer {', '.join(missing)} yet",
                    file=sys.stderr,
                )
                record(
                    8,
                    f"action burst, {tenant.name}",
                    {"available": False, "missing": missing},
                    goal="0 errors, bulk operations used",
                    met=None,
                )
                raise FigureUnavailable(f"figure 8 not available: missing {', '.join(missing)}")
            users = active_users(client, calls)
            if len(users) < calls:
                raise RuntimeError(
                    f"tenant {tenant.name} has only {len(users)} active users; use a larger one"
                )
            deadline = time.monotonic() + DEADLINE_S
            upsert = (
                client.post(
                    "/v1/lms/courses/bulk",
                    json={
                        "items": [
                            {
                                "origin_id": "bench-burst",
                                "course": {
                                    "type": "EXTERNAL",
                                    "title": "Benchmark burst",
                                    "course_url": "https://example.com/bench",
                                },
                            }
                        ]
                    },
                )
                .raise_for_status()
                .json()["data"]
            )
            task: dict[str, Any] = {}

            def task_done() -> bool:
                task.update(
                    client.get(f"/v1/lms/courses/bulk/{upsert['task_id']}").raise_for_status().json()["data"]
                )
                return bool(task["status"] != "PENDING")

            print("course upsert submitted; waiting for its task", flush=True)
            poll("course upsert task", task_done, deadline)
            item = task["data"][0]
            if task["status"] != "COMPLETED" or item["status"] != "SUCCEEDED":
                raise RuntimeError(f"course upsert failed: {task}")
            course = item["data"]
            if not course.get("revisions"):  # the task's result may carry the course without its revisions
                found = client.get("/v1/lms/courses", params={"ids": course["id"]}).raise_for_status().json()
                course = found["data"]["results"][0]
            revision_id = course["revisions"][0]["id"]
            sb.control.reset_counters()
            attempts_before = sb.counts()["attempts"]
            started = time.monotonic()
            responses = asyncio.run(
                burst(
                    api.base_url,
                    headers,
                    [{"user_id": u, "course_revision_id": revision_id} for u in users],
                    concurrency,
                )
            )
            accepted_s = time.monotonic() - started
            errors = [
                r if isinstance(r, str) else f"HTTP {r.status_code} {_code(r)}"
                for r in responses
                if isinstance(r, str) or r.status_code != 200
            ]
            ids = [
                r.json()["data"]["id"] for r in responses if not isinstance(r, str) and r.status_code == 200
            ]

            def visible() -> bool:
                seen = 0
                for i in range(0, len(ids), 100):
                    page = client.get(
                        "/v1/lms/course-progressions",
                        params={"ids": ",".join(ids[i : i + 100]), "page_size": 250},
                    )
                    seen += len(page.raise_for_status().json()["data"]["results"])
                return seen == len(ids)

            print(
                f"{len(ids)} enrolls accepted in {accepted_s:.1f}s, {len(errors)} errors; waiting for them",
                flush=True,
            )
            api_visible_s = accepted_s + poll("progressions visible in the API", visible, deadline)
            remote_s = accepted_s + poll(
                "attempts created in 360Learning",
                lambda: sb.counts()["attempts"] - attempts_before >= len(ids),
                deadline,
            )
            counters = sb.control.counters()
    bulk_submits = sum(n for route, n in counters["calls"].items() if route.startswith("POST /api/v2/bulk"))
    record(
        8,
        f"action burst of {calls} enrolls, {tenant.name}",
        {
            "calls": len(users),
            "client_concurrency": concurrency,
            "accepted": len(ids),
            "errors": len(errors),
            "error_samples": sorted(set(errors))[:5],
            "all_accepted_s": round(accepted_s, 2),
            "visible_in_api_s": round(api_visible_s, 2),
            "visible_in_360learning_s": round(remote_s, 2),
            "bulk_stats_imports": bulk_submits,
            "bulk_operations_run": counters.get("bulk_operations_run"),
            "remote_calls": counters["total_calls"],
            "remote_calls_by_route": counters["calls"],
        },
        goal="0 errors; enrolls batched into bulk operations",
        met=not errors and 0 < bulk_submits < calls,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="M")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=30, help="in-flight calls (Kombo's limit: 30)")
    args = parser.parse_args()
    with Bench() as bench:
        try:
            measure(bench, TENANTS[args.tenant.upper()], args.calls, args.concurrency)
        except FigureUnavailable as exc:
            raise SystemExit(f"{exc}") from exc
