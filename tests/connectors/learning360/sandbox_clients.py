"""Shared pieces of the connector tests: sandbox page sizes, fast client options, client factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmsbridge.connectors.budget import BudgetRegistry
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import ClientOptions, Learning360Config, RetryPolicy
from lmsbridge.sandbox.learning360.config import DEFAULT_PAGE_SIZES
from lmsbridge.sandbox.learning360.testing import RunningSandbox

# Small pages make multi-page chains out of a small, fast tenant.
PAGE_SIZES = {**DEFAULT_PAGE_SIZES, "users": 7, "courses": 4, "stats": 25, "integrations": 2}
# Quick retries and timeouts so fault tests stay fast.
FAST_RETRY = RetryPolicy(
    max_attempts=6, max_seconds=20.0, initial_wait=0.01, max_wait=0.1, throttle_wait=0.02
)
FAST_OPTIONS = ClientOptions(
    connect_timeout=2.0, read_timeout=1.0, write_timeout=2.0, pool_timeout=2.0, retry=FAST_RETRY
)
# For tests that count calls exactly: on a loaded machine a 1 s read timeout could retry a slow answer.
PATIENT_READS = ClientOptions.with_timeout(10.0, FAST_RETRY)


def config_for(sb: RunningSandbox, **overrides: Any) -> Learning360Config:
    values: dict[str, Any] = {
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "host": sb.base_url,
    }
    values.update(overrides)
    return Learning360Config.model_validate(values)


@dataclass
class ClientFactory:
    sandbox: RunningSandbox
    budgets: BudgetRegistry = field(default_factory=BudgetRegistry)
    clients: list[Learning360Client] = field(default_factory=list)

    def __call__(self, options: ClientOptions = FAST_OPTIONS, **kwargs: Any) -> Learning360Client:
        client = Learning360Client(config_for(self.sandbox), options=options, budgets=self.budgets, **kwargs)
        self.clients.append(client)
        return client
