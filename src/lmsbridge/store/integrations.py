"""Integrations repository: create (credentials encrypted), get, list, enable, update, delete with data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lmsbridge.crypto import SecretBox
from lmsbridge.ids import new_integration_id
from lmsbridge.store.schema import RECORD_TABLES, Integration, InteractionLog, SyncRun

# Fields a caller may change through update_integration (credentials have their own function).
UPDATABLE = frozenset(
    {
        "status",
        "setup_status",
        "qa_status",
        "scope_test",
        "model_tests",
        "connector_state",
        "settings",
        "end_user",
        "consecutive_failures",
        "last_sync_error",
        "next_sync_at",
        "paused_at",
        "pause_reason",
    }
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_integration(
    session: Session,
    box: SecretBox,
    *,
    base_url: str,
    credentials: Mapping[str, str],
    tool: str,
    end_user: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    integration_id: str | None = None,
    now: datetime | None = None,
) -> Integration:
    """A new integration; ``credentials`` (e.g. client_id/client_secret) are stored only encrypted."""
    now = now or _utcnow()
    integration = Integration(
        id=integration_id or new_integration_id(tool),
        tool=tool,
        status="ACTIVE",
        enabled=True,
        base_url=base_url,
        credentials_encrypted=box.encrypt(json.dumps(dict(credentials))),
        settings=dict(settings or {}),
        end_user=dict(end_user or {}),
        setup_status="FINAL_SYNC_PENDING",
        qa_status="PENDING",
        connector_state={},
        created_at=now,
        updated_at=now,
    )
    session.add(integration)
    session.flush()
    return integration


def decrypt_credentials(box: SecretBox, integration: Integration) -> dict[str, str]:
    """The plaintext credentials; raises ``crypto.SecretBoxError`` when the key does not match."""
    value = json.loads(box.decrypt(integration.credentials_encrypted))
    return {str(k): str(v) for k, v in value.items()}


def set_credentials(
    session: Session,
    box: SecretBox,
    integration_id: str,
    credentials: Mapping[str, str],
    now: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Integration | None:
    """Replace the credentials (and, when given, the base URL) in place: ids and data stay."""
    integration = session.get(Integration, integration_id)
    if integration is None:
        return None
    integration.credentials_encrypted = box.encrypt(json.dumps(dict(credentials)))
    if base_url is not None:
        integration.base_url = base_url
    integration.updated_at = now or _utcnow()
    session.flush()
    return integration


def get_integration(session: Session, integration_id: str) -> Integration | None:
    return session.get(Integration, integration_id)


def list_integrations(session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.created_at, Integration.id)))


def set_enabled(
    session: Session, integration_id: str, enabled: bool, now: datetime | None = None
) -> Integration | None:
    return update_integration(session, integration_id, now=now, enabled=enabled)


def update_integration(
    session: Session, integration_id: str, *, now: datetime | None = None, **changes: Any
) -> Integration | None:
    """Set the given fields (status, setup_status, qa_status, scope_test, model_tests, connector_state,
    settings, end_user, enabled); None when the integration does not exist."""
    unknown = set(changes) - UPDATABLE - {"enabled"}
    if unknown:
        raise ValueError(f"cannot update integration fields {sorted(unknown)}")
    integration = session.get(Integration, integration_id)
    if integration is None:
        return None
    for name, value in changes.items():
        # JSON columns: assign a fresh object so the change is detected (no in-place mutation tracking)
        setattr(integration, name, dict(value) if isinstance(value, Mapping) else value)
    integration.updated_at = now or _utcnow()
    session.flush()
    return integration


def delete_integration(session: Session, integration_id: str) -> bool:
    """Remove the integration with every record, sync run and log of it; False when it did not exist."""
    if session.get(Integration, integration_id) is None:
        return False
    # explicit deletes rather than relying on ON DELETE CASCADE: logs have no foreign key, and the
    # ORM session must not keep stale objects around
    for model in RECORD_TABLES.values():
        table = model.__table__  # type: ignore[attr-defined]
        session.execute(delete(table).where(table.c.integration_id == integration_id))
    session.execute(delete(SyncRun).where(SyncRun.integration_id == integration_id))
    session.execute(delete(InteractionLog).where(InteractionLog.integration_id == integration_id))
    session.execute(delete(Integration).where(Integration.id == integration_id))
    session.expire_all()
    return True


def complete_setup(session: Session, integration_id: str, now: datetime) -> bool:
    """The first successful FULL sync (past quality assurance, where it runs) completes the setup: from
    then on the integration's data is served. Returns whether the status changed."""
    integration = get_integration(session, integration_id)
    if integration is None or integration.setup_status == "COMPLETED":
        return False
    integration.setup_status = "COMPLETED"
    integration.updated_at = now
    return True
