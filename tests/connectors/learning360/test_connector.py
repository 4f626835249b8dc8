"""The 360Learning connector behind the generic interface: input, stored form, credential check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lmsbridge.connectors.base import StoredConnection
from lmsbridge.connectors.errors import InvalidCredentials
from lmsbridge.connectors.learning360.config import resolve_base_url
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.connectors.registry import connector_class
from lmsbridge.ids import random_id
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.settings import Settings


def test_registry_knows_360learning() -> None:
    assert connector_class("360learning") is Learning360Connector
    with pytest.raises(KeyError, match="360learning"):
        connector_class("moodle")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("eu", "https://app.360learning.com"),
        ("US", "https://app.us.360learning.com"),
        ("http://127.0.0.1:8001/", "http://127.0.0.1:8001"),
    ],
)
def test_hosts(host: str, expected: str) -> None:
    assert resolve_base_url(host) == expected


@pytest.mark.parametrize("host", ["asia", "ftp://example.com", "https://h/x?y=1"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        resolve_base_url(host)


def test_connection_from_input_validates() -> None:
    connection = Learning360Connector.connection_from_input(
        host="us",
        credentials={"client_id": "abc", "client_secret": "s3cret"},
        settings={"provider_name": "Acme Academy"},
    )
    assert connection.base_url == "https://app.us.360learning.com"
    assert connection.credentials == {"client_id": "abc", "client_secret": "s3cret"}
    assert connection.settings == {"provider_name": "Acme Academy"}
    with pytest.raises(ValidationError):
        Learning360Connector.connection_from_input(host="eu", credentials={"client_id": "abc"})
    with pytest.raises(ValidationError):
        Learning360Connector.connection_from_input(
            host="eu", credentials={"client_id": "a", "client_secret": "b"}, settings={"author_id": "nope"}
        )


async def test_verify_credentials_against_the_sandbox(sandbox: RunningSandbox) -> None:
    good = StoredConnection(
        sandbox.base_url, {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}, {}
    )
    async with Learning360Connector.from_connection(good) as connector:
        await connector.verify_credentials()
        assert connector.api_calls == 1
    bad = StoredConnection(sandbox.base_url, {"client_id": sandbox.client_id, "client_secret": "wrong"}, {})
    async with Learning360Connector.from_connection(bad) as connector:
        with pytest.raises(InvalidCredentials):
            await connector.verify_credentials()
    # one token request each: the refused one is not retried
    assert sandbox.control.counters()["calls"]["POST /api/v2/oauth2/token"] == 2


async def test_app_settings_set_rates_and_timeouts(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, remote_reads_per_second=12, remote_writes_per_second=3, remote_timeout_seconds=7
    )
    connection = StoredConnection("http://127.0.0.1:9", {"client_id": random_id(), "client_secret": "x"}, {})
    async with Learning360Connector.from_connection(connection, app_settings=settings) as connector:
        budget = connector.client.budget
        assert (budget.reads_per_second, budget.writes_per_second) == (12, 3)
        assert connector.client.options.read_timeout == 7
        # a second instance for the same company shares the budget
        async with Learning360Connector.from_connection(connection) as other:
            assert other.client.budget is budget
