"""The one place actions report changed models for the data-changed webhook (the webhooks outbox)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def _outbox_recorder() -> Callable[..., Any] | None:
    # The outbox (lmsbridge.webhooks.outbox.record_changes) is built in parallel with the actions;
    # until it exists, changes from actions reach webhooks only through the next sync.
    try:
        module = importlib.import_module("lmsbridge.webhooks.outbox")
    except ImportError:
        return None
    recorder = getattr(module, "record_changes", None)
    return recorder if callable(recorder) else None


def record_changes(session: Session, integration_id: str, models: Sequence[str], now: datetime) -> None:
    """Record ``models`` (Kombo names without ``lms_``, e.g. "courses") as changed, in the caller's
    transaction, so the data-changed webhook follows the action's write."""
    if not models:
        return
    recorder = _outbox_recorder()
    if recorder is not None:
        recorder(session, integration_id, list(dict.fromkeys(models)), now)
