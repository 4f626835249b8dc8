"""Connector tests run against the sandbox (a simulated 360Learning tenant) over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sandbox_clients import PAGE_SIZES, ClientFactory

from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(
        seed=7, users=40, courses=18, attempts=300, integrations=3, page_sizes=PAGE_SIZES
    ) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests share one sandbox per module: start each from no faults, default settings, zero counters."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    sb: RunningSandbox = request.getfixturevalue("sandbox")
    sb.control.clear_faults()
    sb.control.configure(
        rate_limit_enabled=False, token_lifetime_s=3600, expires_in_as_string=False, page_sizes=PAGE_SIZES
    )
    sb.control.set_scopes(sb.client_id, "all")
    sb.control.reset_counters()
    yield
    sb.control.clear_faults()


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[Callable[..., Learning360Client]]:
    """Clients against the sandbox with a private budget registry (counters start at zero)."""
    factory = ClientFactory(sandbox)
    yield factory
    for client in factory.clients:
        await client.aclose()
