"""Fixtures for sync tests: a sandbox tenant, a migrated store (SQLite and PostgreSQL), an integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sync_support import SyncSetup

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.sync.engine import SyncEngine, SyncOptions


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=11, users=60, courses=24, attempts=700, integrations=2) as sb:
        yield sb


@pytest.fixture
def setup(sandbox: RunningSandbox, database_url: str) -> Iterator[SyncSetup]:
    db = make_engine(database_url)
    upgrade_database(db)
    key = Fernet.generate_key()
    box = SecretBox(key)
    with session_scope(db) as session:
        integration = create_integration(
            session,
            box,
            tool="360learning",
            base_url=sandbox.base_url,
            credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        )
        integration_id = integration.id
    # small partitions so even a small tenant exercises several concurrent stats chains
    engine = SyncEngine(db, box, options=SyncOptions(connector_options={"ids_per_partition": 7}))
    yield SyncSetup(sandbox, db, key, box, integration_id, engine)
    db.dispose()
