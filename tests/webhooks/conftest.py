"""Fixtures for webhook tests: a migrated store (SQLite and PostgreSQL), a key, settings, a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from webhook_support import Receiver, WebhookSchemas, running_receiver

from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        encryption_key=Fernet.generate_key().decode(),
        public_base_url="http://127.0.0.1:8123",
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return SecretBox.from_settings(settings)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture(scope="session")
def schemas(kombo_spec: Any) -> WebhookSchemas:
    return WebhookSchemas(kombo_spec)
