"""Fixtures of the scale-out tests: a migrated PostgreSQL store with the job tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine

from lmsbridge.jobs.system import apply_job_schema
from lmsbridge.settings import Settings
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database


@pytest.fixture
def store(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        encryption_key=Fernet.generate_key().decode(),
        job_poll_seconds=0.2,
        worker_stalled_seconds=3.0,
    )
    db = make_engine(postgres_url)
    upgrade_database(db)
    apply_job_schema(settings, db)
    yield db, settings
    db.dispose()
