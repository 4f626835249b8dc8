"""Fixtures for the sandbox's own tests: a served small tenant, an authenticated client, spec helpers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A fresh small tenant per test (seed 7): 60 users, 25 courses, 1,300 attempts, 2 integrations."""
    with running_sandbox(seed=7, users=60, courses=25, attempts=1300) as sb:
        yield sb


@pytest.fixture
def token(sandbox: RunningSandbox) -> str:
    response = httpx.post(
        f"{sandbox.base_url}/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


@pytest.fixture
def api(sandbox: RunningSandbox, token: str) -> Iterator[httpx.Client]:
    """An httpx client on the sandbox with the bearer token and `360-api-version: v2.0` set."""
    headers = {"Authorization": f"Bearer {token}", "360-api-version": "v2.0", "Accept": "application/json"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10) as client:
        yield client
