"""Fixtures of the API tests: a migrated store (SQLite and PostgreSQL), an API key, the app on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ApiEnv, KomboContract, make_settings, new_api_key

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database
from loopback import bound_socket, serve


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[ApiEnv]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sock = bound_socket()
    settings = make_settings(tmp_path, database_url, sock.getsockname()[1])
    key = new_api_key(engine)
    try:
        with (
            serve(create_app(settings, engine=engine), sock) as base_url,
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
        ):
            assert settings.encryption_key is not None
            yield ApiEnv(base_url, settings, engine, SecretBox(settings.encryption_key.encode()), key, client)
    finally:
        engine.dispose()


@pytest.fixture
def kombo(kombo_spec: Any) -> KomboContract:
    return KomboContract(kombo_spec)
