"""Load generator for the read API (run as its own process by the benchmarks): N concurrent clients page
through `GET /v1/lms/course-progressions` (following `next`, starting over at the end), for a duration or
until SIGINT/SIGTERM; prints one JSON line: requests, errors, latency percentiles, pages/s, own CPU.
The API key comes from the environment (LMSBRIDGE_BENCH_API_KEY).

    LMSBRIDGE_BENCH_API_KEY=… python benchmarks/loadgen.py --base-url http://127.0.0.1:8000 \
        --integration 360learning:… --duration 20 --clients 16 --params '[{}]'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import time
from typing import Any

import httpx

# the cursor is all we need from a page: a regex keeps the generator's own CPU small
NEXT = re.compile(rb'"next"\s*:\s*(null|"([^"]*)")')
PATH = "/v1/lms/course-progressions"


def percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    return round(sorted_ms[min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))], 1)


async def client_loop(
    client: httpx.AsyncClient,
    params_cycle: list[dict[str, str]],
    index: int,
    page_size: int,
    stop: asyncio.Event,
    latencies: list[float],
    errors: list[str],
) -> None:
    turn = index
    while not stop.is_set():
        params = {**params_cycle[turn % len(params_cycle)], "page_size": str(page_size)}
        turn += 1
        cursor: str | None = None
        while not stop.is_set():
            # like Kombo's own client: the same filters again, plus the cursor
            query = dict(params) if cursor is None else {**params, "cursor": cursor}
            t0 = time.perf_counter()
            try:
                response = await client.get(PATH, params=query)
                body = response.content
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                break
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {body[:200]!r}")
                break
            match = NEXT.search(body)
            if match is None:
                errors.append("no next field in the body")
                break
            cursor = match.group(2).decode() if match.group(2) is not None else None
            if cursor is None:
                break


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    params_cycle: list[dict[str, str]] = json.loads(args.params) or [{}]
    headers = {
        "Authorization": f"Bearer {os.environ['LMSBRIDGE_BENCH_API_KEY']}",
        "X-Integration-Id": args.integration,
    }
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    latencies: list[float] = []
    errors: list[str] = []
    cpu0 = time.process_time()
    async with httpx.AsyncClient(
        base_url=args.base_url, headers=headers, limits=limits, timeout=30
    ) as client:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(client_loop(client, params_cycle, i, args.page_size, stop, latencies, errors))
            for i in range(args.clients)
        ]
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.duration)
        except TimeoutError:
            stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": args.clients,
        "page_size": args.page_size,
        "params": params_cycle[0] if len(params_cycle) == 1 else f"{len(params_cycle)} parameter sets",
        "elapsed_s": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "pages_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "loadgen_cpu_share": round((time.process_time() - cpu0) / elapsed, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--integration", required=True)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument(
        "--params", default="[{}]", help="JSON list of query-parameter sets, one per pagination"
    )
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
