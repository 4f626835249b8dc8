"""The one place actions report changed models for the data-changed webhook (the webhooks outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from lmsbridge.webhooks import outbox


def record_changes(session: Session, integration_id: str, models: Sequence[str], now: datetime) -> None:
    """Record ``models`` (unified names, e.g. "courses") as changed, in the caller's transaction, so the
    data-changed webhook follows the action's write."""
    if models:
        outbox.record_changes(session, integration_id, list(dict.fromkeys(models)), now)


def announce_changes(session: Session, integration_id: str, models: Sequence[str], now: datetime) -> None:
    """``record_changes``, then one data-changed event at once with every model the integration has
    pending: for writes the LMS confirmed (a finished bulk operation, a synchronous archive), so
    receivers hear of them now rather than at the next sync."""
    record_changes(session, integration_id, models, now)
    outbox.flush_data_changed(session, integration_id, now)
