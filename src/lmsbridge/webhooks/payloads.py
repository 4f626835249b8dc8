"""Webhook event bodies in Kombo's shapes (pure functions) and their one deterministic byte encoding."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from lmsbridge.store.schema import RECORD_TABLES, Integration

DATA_CHANGED = "data-changed"
SYNC_FINISHED = "sync-finished"
INTEGRATION_CREATED = "integration-created"
INTEGRATION_DELETED = "integration-deleted"
INTEGRATION_STATE_CHANGED = "integration-state-changed"
EVENT_TYPES = (
    DATA_CHANGED,
    SYNC_FINISHED,
    INTEGRATION_CREATED,
    INTEGRATION_DELETED,
    INTEGRATION_STATE_CHANGED,
)
CATEGORY = "LMS"

# unified model name ("users") → Kombo's changed_models name ("lms_users"): the table names are Kombo's
MODEL_NAMES: dict[str, str] = {model: table.__tablename__ for model, table in RECORD_TABLES.items()}  # type: ignore[attr-defined]
# Kombo also names the revision↔skill join; we accept it although no table of ours stores it yet
KOMBO_MODEL_NAMES = frozenset({*MODEL_NAMES.values(), "lms_join_revisions_skills"})

# Kombo types end_user.creator_email as an e-mail; a stored value that is not one is sent as null
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def kombo_model_name(model: str) -> str:
    """``users`` or ``lms_users`` → ``lms_users``; anything else is a programming error."""
    if model in KOMBO_MODEL_NAMES:
        return model
    try:
        return MODEL_NAMES[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(MODEL_NAMES)}") from None


def timestamp(value: datetime) -> str:
    """Kombo's timestamp format: milliseconds, UTC, ``Z``."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def end_user(integration: Integration) -> dict[str, Any]:
    stored: Mapping[str, Any] = integration.end_user or {}
    email = _text(stored.get("creator_email"))
    return {
        # required non-null by Kombo: fall back to the integration id (as the read API does)
        "organization_name": _text(stored.get("organization_name")) or integration.id,
        "creator_email": email if email and _EMAIL.match(email) else None,
        "origin_id": _text(stored.get("origin_id")),
    }


def public_state(integration: Integration) -> str:
    """Kombo's ACTIVE | INVALID | INACTIVE, where INACTIVE means manually disabled."""
    if not integration.enabled:
        return "INACTIVE"
    return "ACTIVE" if integration.status == "INACTIVE" else integration.status


def envelope(event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "data": data}


def data_changed(integration: Integration, models: Iterable[str]) -> dict[str, Any]:
    names = sorted({kombo_model_name(m) for m in models})
    return {
        "integration_id": integration.id,
        "integration_tool": integration.tool,
        "integration_category": CATEGORY,
        "changed_models": [{"name": name} for name in names],
    }


def sync_finished(
    integration: Integration,
    *,
    sync_id: str,
    state: str,
    started_at: datetime,
    ended_at: datetime,
    log_url: str,
) -> dict[str, Any]:
    return {
        "sync_id": sync_id,
        "sync_state": state,
        "sync_started_at": timestamp(started_at),
        "sync_ended_at": timestamp(ended_at),
        # Kombo: an integer ≥ 0 (a clock step back must not make it negative)
        "sync_duration_seconds": max(0, round((ended_at - started_at).total_seconds())),
        "integration_id": integration.id,
        "integration_tool": integration.tool,
        "integration_category": CATEGORY,
        "end_user": end_user(integration),
        "log_url": log_url,
    }


def integration_created(integration: Integration) -> dict[str, Any]:
    return {
        "id": integration.id,
        "tool": integration.tool,
        "category": CATEGORY,
        "end_user": end_user(integration),
    }


def integration_deleted(integration: Integration, deleted_at: datetime) -> dict[str, Any]:
    return {**integration_created(integration), "deleted_at": timestamp(deleted_at)}


def integration_state_changed(integration: Integration, updated_at: datetime) -> dict[str, Any]:
    return {
        "integration_tool": integration.tool,
        "integration_id": integration.id,
        "integration_category": CATEGORY,
        "end_user": end_user(integration),
        "qa_status": integration.qa_status,
        "setup_status": integration.setup_status,
        "state": public_state(integration),
        "updated_at": timestamp(updated_at),
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    """The request body: one canonical encoding (sorted keys, no spaces, UTF-8), so every attempt sends
    and signs the same bytes whatever the database did to the stored JSON's key order."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
