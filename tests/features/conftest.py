"""Fixtures of the features tests: a sandbox tenant, a migrated store (SQLite and PostgreSQL), the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from feature_support import (
    FeatureEnv,
    KomboContract,
    add_sandbox_integration,
    bound_socket,
    make_settings,
    new_api_key,
    serve,
)

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=23, users=40, courses=16, attempts=300, integrations=2) as sb:
        yield sb


@pytest.fixture
def env(sandbox: RunningSandbox, database_url: str, tmp_path: Path) -> Iterator[FeatureEnv]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sock = bound_socket()
    settings = make_settings(tmp_path, database_url, sock.getsockname()[1])
    assert settings.encryption_key is not None
    box = SecretBox(settings.encryption_key.encode())
    key = new_api_key(engine)
    integration_id = add_sandbox_integration(engine, box, sandbox)
    try:
        with (
            serve(create_app(settings, engine=engine), sock) as base_url,
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
        ):
            yield FeatureEnv(base_url, settings, engine, box, client, sandbox, integration_id)
    finally:
        engine.dispose()


@pytest.fixture
def kombo(kombo_spec: Any) -> KomboContract:
    return KomboContract(kombo_spec)
