"""Figure 6 with and without observability, side by side in one run: the read API (`GET
/v1/lms/course-progressions?page_size=250`, 16 clients, no filter) served by `lmsbridge serve` with
Prometheus metrics and a structured JSON line per request (the defaults), and with both off
(`LMSBRIDGE_METRICS_ENABLED=false`, `LMSBRIDGE_LOG_LEVEL=WARNING`). The two set-ups alternate, several
rounds each, on the same store, so drift of a shared machine falls on both. Goal: the servers' CPU per
page with observability on is within 5 % of off (the median over rounds of on ÷ off). The request
middleware's own CPU per request is measured too, in one process without the load's noise.

    .venv/bin/python benchmarks/fig6_observability.py [--tenant M] [--backend sqlite] [--rounds 3]
        [--duration 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from common import TENANTS, Bench, api_server, load, mark_readable, record

WITHIN = 0.05
SETUPS = {
    "on": {
        "LMSBRIDGE_METRICS_ENABLED": "true",
        "LMSBRIDGE_LOG_LEVEL": "INFO",
        "LMSBRIDGE_LOG_FORMAT": "json",
    },
    "off": {"LMSBRIDGE_METRICS_ENABLED": "false", "LMSBRIDGE_LOG_LEVEL": "WARNING"},
}


def request_overhead_us(requests: int = 20_000) -> dict[str, float]:
    """CPU µs per request of the request middleware alone (a JSON line to a file and a latency
    observation) around an app that answers at once, on vs off: the part of a page's cost that
    observability adds, free of the load's noise."""
    import asyncio
    import logging
    import tempfile

    from lmsbridge.api.request_log import RequestLogMiddleware
    from lmsbridge.logs import configure_logging

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def noop_send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/lms/course-progressions",
        "query_string": b"page_size=250&cursor=abc",
        "headers": [],
    }

    def run(middleware: RequestLogMiddleware) -> float:
        async def loop() -> None:
            for _ in range(requests):
                await middleware(dict(scope), receive, noop_send)

        started = time.process_time()
        asyncio.run(loop())
        return 1e6 * (time.process_time() - started) / requests

    with tempfile.TemporaryFile("w") as sink:
        configure_logging("INFO", "json", stream=sink)  # type: ignore[arg-type]
        on = run(RequestLogMiddleware(app, metrics_enabled=True))
        logging.getLogger().setLevel(logging.WARNING)
        off = run(RequestLogMiddleware(app, metrics_enabled=False))
    return {"on_us": round(on, 1), "off_us": round(off, 1), "added_us": round(on - off, 1)}


def measure(bench: Bench, tenant_name: str, backend: str, rounds: int, duration_s: float) -> dict[str, Any]:
    store, _ = bench.synced_store(TENANTS[tenant_name.upper()], backend)
    mark_readable(store)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SETUPS}
    for round_ in range(rounds):
        # each round measures both, in alternating order: a machine's drift falls on both alike
        order = ["on", "off"] if round_ % 2 == 0 else ["off", "on"]
        for name in order:
            with api_server(store, settings=SETUPS[name]) as api:
                load(api, store.integration_id, duration_s=3)  # warm-up: connections, caches
                runs[name].append(load(api, store.integration_id, duration_s=duration_s))
    per_page = {name: [r["server_cpu_ms_per_page"] for r in results] for name, results in runs.items()}
    pages = {name: [r["pages_per_s"] for r in results] for name, results in runs.items()}
    p99 = {name: [r["p99_ms"] for r in results] for name, results in runs.items()}
    on, off = statistics.median(per_page["on"]), statistics.median(per_page["off"])
    # the cost: the median of each round's on ÷ off (paired, so a slower minute of the machine cancels)
    ratios = [a / b for a, b in zip(per_page["on"], per_page["off"], strict=True)]
    cost = statistics.median(ratios) - 1
    overhead = request_overhead_us()
    figures = {
        "tenant": tenant_name.upper(),
        "backend": backend,
        "rounds": rounds,
        "duration_s": duration_s,
        "server_cpu_ms_per_page": per_page,
        "pages_per_s": pages,
        "p99_ms": p99,
        "errors": {name: sum(r["errors"] for r in results) for name, results in runs.items()},
        "median_cpu_ms_per_page_on": on,
        "median_cpu_ms_per_page_off": off,
        "per_round_ratio": [round(r, 3) for r in ratios],
        "observability_cost": round(cost, 4),
        "middleware_cpu_us_per_request": overhead,
        "middleware_share_of_page": round(overhead["added_us"] / 1000 / off, 4),
    }
    record(
        6,
        f"read API with metrics and request logs on vs off, {tenant_name.upper()}, {backend}",
        figures,
        goal=f"CPU per page with observability ≤ {1 + WITHIN:.2f} × without",
        met=cost <= WITHIN and all(v == 0 for v in figures["errors"].values()),
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenant", default="M")
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    with Bench() as bench:
        measure(bench, args.tenant, args.backend, args.rounds, args.duration)
