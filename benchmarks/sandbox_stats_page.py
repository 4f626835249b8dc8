"""Median time for the sandbox to serve one 500-row `GET /api/v2/courses/stats` page from a 1M-attempt
tenant, in-process (the serve path: auth, filters, paging, rendering, JSON; no socket).

    .venv/bin/python benchmarks/sandbox_stats_page.py [--attempts 1000000] [--pages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from lmsbridge.sandbox.learning360.app import build_app
from lmsbridge.sandbox.learning360.generator import generate_tenant


async def main(attempts: int, pages: int) -> None:
    started = time.perf_counter()
    tenant = generate_tenant(seed=1, users=10_000, courses=2_000, attempts=attempts)
    print(f"generated {attempts:,} attempts in {time.perf_counter() - started:.1f}s")
    cred = next(iter(tenant.credentials.values()))
    token = tenant.issue_token(cred)
    transport = httpx.ASGITransport(app=build_app(tenant))
    headers = {"Authorization": f"Bearer {token}", "360-api-version": "v2.0"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        for label, params in (
            ("unfiltered", {}),
            ("courseId[in] x20", {"courseId[in]": tenant.courses.ids[:20]}),
        ):
            url: str | None = "/api/v2/courses/stats"
            timings: list[float] = []
            first = True
            while url and len(timings) < pages:
                t0 = time.perf_counter()
                response = await client.get(url, params=params if first else None)
                timings.append((time.perf_counter() - t0) * 1000)
                first = False
                assert response.status_code == 200
                link = response.headers.get("link")
                url = link[1 : link.index(">")] if link else None
            print(
                f"{label}: median {statistics.median(timings):.2f} ms over {len(timings)} pages (p95 "
                f"{sorted(timings)[int(len(timings) * 0.95) - 1]:.2f} ms)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.attempts, args.pages))
