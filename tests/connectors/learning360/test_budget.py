"""The per-company API budget: one rate shared by concurrent callers, checked by the sandbox's own limiter."""

from __future__ import annotations

import asyncio
import time

import pytest
from sandbox_clients import config_for

from lmsbridge.connectors.budget import ApiBudget, BudgetRegistry
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import ClientOptions, RetryPolicy
from lmsbridge.sandbox.learning360.testing import RunningSandbox

USERS = "/api/v2/users"
RATE = 20.0
# The sandbox enforces a sliding one-second window; leave room for the bucket's burst and jitter.
SANDBOX_LIMIT = 25
CALLS_PER_CLIENT = 25
# the control run is refused on purpose: enough retries (and time per answer on a loaded machine) that
# every call still ends well, so the test measures refusals rather than the retry budget
PATIENT_OPTIONS = ClientOptions.with_timeout(
    10.0, RetryPolicy(max_attempts=40, max_seconds=90, initial_wait=0.01, max_wait=0.2, throttle_wait=0.05)
)


async def _hammer(client: Learning360Client, calls: int, workers: int = 5) -> None:
    """`workers` concurrent tasks sharing `calls` GETs."""
    per_worker = calls // workers

    async def work() -> None:
        for _ in range(per_worker):
            await client.get_json(USERS)

    await asyncio.gather(*(work() for _ in range(workers)))


def test_registry_shares_one_budget_per_company() -> None:
    registry = BudgetRegistry()
    first = registry.get("https://app.360learning.com|abc", reads_per_second=10)
    assert registry.get("https://app.360learning.com|abc") is first
    assert first.reads_per_second == 10
    assert registry.get("https://app.360learning.com|other") is not first
    registry.drop("https://app.360learning.com|abc")
    assert registry.get("https://app.360learning.com|abc") is not first
    with pytest.raises(ValueError):
        ApiBudget("k", reads_per_second=0)
    with pytest.raises(ValueError):
        registry.get("https://app.360learning.com|zero", writes_per_second=0)


def test_a_budget_whose_first_caller_names_no_rates_gets_the_registry_defaults() -> None:
    registry = BudgetRegistry()
    assert registry.get("a").reads_per_second == 45.0 and registry.get("a").writes_per_second == 9.0
    registry.default_rates = (100.0, 20.0)
    assert (registry.get("b").reads_per_second, registry.get("b").writes_per_second) == (100.0, 20.0)
    assert registry.get("c", writes_per_second=3.0).writes_per_second == 3.0


async def test_budget_spaces_calls_at_the_rate() -> None:
    budget = ApiBudget("k", reads_per_second=50, writes_per_second=5)
    started = time.monotonic()
    await asyncio.gather(*(budget.acquire("read") for _ in range(30)))
    await asyncio.gather(*(budget.acquire("write") for _ in range(4)))
    elapsed = time.monotonic() - started
    # 30 reads at 50/s with a 5-call burst need ≥ 0.5 s; 4 writes at 5/s with a burst of 1 need ≥ 0.6 s
    assert elapsed >= (30 - 5) / 50 + (4 - 1) / 5 - 0.05
    assert (budget.counters.reads, budget.counters.writes) == (30, 4)
    assert budget.counters.waits > 0


async def test_shared_budget_keeps_concurrent_clients_under_the_company_limit(
    sandbox: RunningSandbox,
) -> None:
    sandbox.control.set_rate_limits(enabled=True, reads_per_second=SANDBOX_LIMIT)
    sandbox.control.reset_counters()
    registry = BudgetRegistry()
    options = ClientOptions(read_timeout=2.0, retry=RetryPolicy(max_attempts=1))
    # two connector instances of the same company (e.g. a sync and a passthrough) → one budget
    clients = [
        Learning360Client(
            config_for(sandbox), options=options, budget=registry.get("company", reads_per_second=RATE)
        )
        for _ in range(2)
    ]
    try:
        await asyncio.gather(*(_hammer(c, CALLS_PER_CLIENT) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    counters = sandbox.control.counters()
    assert counters["calls"]["GET /api/v2/users"] == 2 * CALLS_PER_CLIENT
    # the sandbox never had to refuse a call: the shared rate held in every one-second window
    assert counters["too_many_requests"] == 0
    budget = registry.get("company")
    assert budget.counters.reads == 2 * CALLS_PER_CLIENT + 2  # + one token call per client
    assert budget.counters.waits > 0


async def test_separate_budgets_would_overrun_the_company_limit(sandbox: RunningSandbox) -> None:
    """The control experiment: the same load with one budget per client makes the sandbox answer 429."""
    sandbox.control.set_rate_limits(enabled=True, reads_per_second=SANDBOX_LIMIT)
    sandbox.control.reset_counters()
    clients = [
        Learning360Client(config_for(sandbox), options=PATIENT_OPTIONS, budget=ApiBudget(f"c{i}", RATE))
        for i in range(2)
    ]
    try:
        await asyncio.gather(*(_hammer(c, CALLS_PER_CLIENT) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    counters = sandbox.control.counters()
    assert counters["too_many_requests"] > 0
    # the 429s were absorbed by retries and counted on the budgets
    assert sum(c.budget.counters.throttled for c in clients) == counters["too_many_requests"]
