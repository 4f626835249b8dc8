"""Store fixtures: a migrated engine on SQLite and PostgreSQL, one integration in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from factories import make_integration, new_box
from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_database(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def box() -> SecretBox:
    return new_box()


@pytest.fixture
def integration_id(engine: Engine, box: SecretBox) -> str:
    return make_integration(engine, box)
