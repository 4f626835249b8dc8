"""Fixtures for action tests: a sandbox with realistic bulk delays, synced into a store (SQLite and
PostgreSQL), served by the API on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from actions_support import ActionSetup, build_app, make_settings, new_api_key, new_key

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import running_sandbox
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.sync.engine import SyncEngine
from loopback import serve

# sandbox seconds from submit to the end of a bulk operation (pending → queued → running → ended)
BULK_DELAYS = {"bulk_queue_s": 0.1, "bulk_start_s": 0.1, "bulk_run_s": 0.2}


@pytest.fixture
async def setup(tmp_path: Path, database_url: str) -> AsyncIterator[ActionSetup]:
    with running_sandbox(seed=5, users=40, courses=12, attempts=120, integrations=2, **BULK_DELAYS) as sb:
        db = make_engine(database_url)
        upgrade_database(db)
        key = new_key()
        box = SecretBox(key)
        with session_scope(db) as session:
            integration = create_integration(
                session,
                box,
                tool="360learning",
                base_url=sb.base_url,
                credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
            )
            integration_id = integration.id
        outcome = await SyncEngine(db, box).run_new(integration_id, "FULL")
        assert outcome.state == "SUCCEEDED", outcome.error
        settings = make_settings(tmp_path, database_url, key)
        app = build_app(settings, db)
        with serve(app) as base_url:
            setup = ActionSetup(sb, db, box, settings, integration_id, base_url, new_api_key(db))
            try:
                yield setup
            finally:
                for worker in setup.workers:
                    await worker.stop()
                services = getattr(app.state, "actions", None)
                if services is not None:
                    # its clients belonged to the server's (now closed) loop
                    with contextlib.suppress(Exception):
                        await services.remote.aclose()
        db.dispose()
