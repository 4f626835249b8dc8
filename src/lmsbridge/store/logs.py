"""Interaction logs: every API error, sync, action, passthrough and webhook delivery, stored redacted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.store.redaction import redact, redact_text
from lmsbridge.store.schema import InteractionLog

KINDS = frozenset({"api", "sync", "action", "passthrough", "webhook"})


def write_log(
    session: Session,
    kind: str,
    *,
    integration_id: str | None = None,
    method: str | None = None,
    url: str | None = None,
    status_code: int | None = None,
    request: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    error: str | None = None,
    duration_ms: int | None = None,
    now: datetime | None = None,
    log_id: str | None = None,
) -> InteractionLog:
    """Store one interaction; secrets in request, response, URL and error text are redacted first.

    ``log_id`` lets a caller hand out the id (e.g. an error envelope's log_url) before writing.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown log kind {kind!r}; expected one of {sorted(KINDS)}")
    entry = InteractionLog(
        id=log_id or random_id(),
        integration_id=integration_id,
        kind=kind,
        method=method.upper() if method else None,
        url=redact_text(url) if url else None,
        status_code=status_code,
        request=redact(dict(request)) if request is not None else None,
        response=redact(dict(response)) if response is not None else None,
        error=redact_text(error) if error else None,
        duration_ms=duration_ms,
        created_at=now or datetime.now(UTC),
    )
    session.add(entry)
    session.flush()
    return entry


def get_log(session: Session, log_id: str) -> InteractionLog | None:
    return session.get(InteractionLog, log_id)
