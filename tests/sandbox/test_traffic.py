"""Rate limits, latency, injected faults and counters, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from sandbox_openapi import check

from lmsbridge.sandbox.learning360.testing import RunningSandbox


def test_read_rate_limit_gives_429_without_headers(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.set_rate_limits(True, reads_per_second=5, writes_per_second=2)
    codes = [api.get("/api/v2/groups").status_code for _ in range(8)]
    # 8 sequential calls take far less than a second on loopback, so exactly 5 pass the window
    assert codes.count(200) == 5 and codes.count(429) == 3
    limited = api.get("/api/v2/groups")
    assert check("core", "GET", "/api/v2/groups", limited) == {"error": "tooManyRequests"}
    assert "retry-after" not in limited.headers and not any(
        h.startswith("x-ratelimit") for h in limited.headers
    )
    assert sandbox.control.counters()["too_many_requests"] == 4
    sandbox.control.set_rate_limits(False)
    assert api.get("/api/v2/groups").status_code == 200


def test_rate_limit_window_frees_up(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.set_rate_limits(True, reads_per_second=2)
    assert [api.get("/api/v2/groups").status_code for _ in range(3)] == [200, 200, 429]
    deadline = time.monotonic() + 3
    while api.get("/api/v2/groups").status_code == 429:
        assert time.monotonic() < deadline, "window never freed"
        time.sleep(0.05)


def test_status_fault_fires_count_times_then_stops(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.set_faults([{"kind": "status", "route": "GET /api/v2/users", "status": 502, "count": 2}])
    assert [api.get("/api/v2/users").status_code for _ in range(3)] == [502, 502, 200]
    assert api.get("/api/v2/courses").status_code == 200  # other routes untouched
    assert sandbox.control.counters()["faults"] == {"status": 2}


def test_seeded_probability_is_reproducible(sandbox: RunningSandbox, api: httpx.Client) -> None:
    def run() -> list[int]:
        sandbox.control.set_faults(
            [{"kind": "burst429", "route": "/api/v2/groups", "probability": 0.5}], seed=3
        )
        return [api.get("/api/v2/groups").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 429 in first and 200 in first


def test_drop_truncate_hang_and_revoke(sandbox: RunningSandbox, api: httpx.Client) -> None:
    ctl = sandbox.control
    ctl.set_faults([{"kind": "drop", "route": "GET /api/v2/groups", "count": 1}])
    with pytest.raises(httpx.TransportError):
        api.get("/api/v2/groups")
    assert api.get("/api/v2/groups").status_code == 200
    ctl.set_faults([{"kind": "truncate", "route": "GET /api/v2/users", "count": 1}])
    truncated = api.get("/api/v2/users")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    ctl.set_faults([{"kind": "hang", "route": "GET /api/v2/courses", "count": 1, "hang_seconds": 2}])
    with pytest.raises(httpx.ReadTimeout):
        api.get("/api/v2/courses", timeout=0.3)
    ctl.set_faults([{"kind": "revoke_tokens", "count": 1}])
    assert api.get("/api/v2/integrations").status_code == 401
    ctl.clear_faults()


def test_latency_is_applied(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.set_latency(fixed_ms=150)
    started = time.perf_counter()
    assert api.get("/api/v2/groups").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_counters_per_route_template(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.reset_counters()
    for user_id in sandbox.tenant.users.ids[:3]:
        api.get(f"/api/v2/users/{user_id}")
    api.get("/api/v2/courses/stats")
    counters = sandbox.control.counters()
    assert counters["calls"] == {"GET /api/v2/users/{userId}": 3, "GET /api/v2/courses/stats": 1}
    assert counters["total_calls"] == 4
