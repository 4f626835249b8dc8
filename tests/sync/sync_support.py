"""What sync tests share: the set-up object the fixtures build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.schema import RECORD_TABLES
from lmsbridge.sync.engine import SyncEngine


@dataclass
class SyncSetup:
    sandbox: RunningSandbox
    db: Engine
    key: bytes  # the Fernet key of `box` (a worker process needs it)
    box: SecretBox
    integration_id: str
    engine: SyncEngine


def fingerprint(db: Engine, integration_id: str) -> dict[str, dict[str, Any]]:
    """What a sync stored, independent of the integration id: per model, remote id → (payload, deleted)."""
    out: dict[str, dict[str, Any]] = {}
    with session_scope(db, readonly=True) as session:
        for model, table in RECORD_TABLES.items():
            rows = session.scalars(select(table).where(table.integration_id == integration_id))
            out[model] = {row.remote_id: (row.remote_data, row.remote_deleted_at is not None) for row in rows}
    return out


def add_integration(setup: SyncSetup) -> str:
    """A second integration on the same tenant (e.g. the clean reference run of a fault test)."""
    with session_scope(setup.db) as session:
        integration = create_integration(
            session,
            setup.box,
            tool="360learning",
            base_url=setup.sandbox.base_url,
            credentials={"client_id": setup.sandbox.client_id, "client_secret": setup.sandbox.client_secret},
        )
        return integration.id
