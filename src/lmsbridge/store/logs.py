"""Interaction logs: every API error, sync, action, passthrough and webhook delivery, stored redacted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.redaction import redact, redact_text
from lmsbridge.store.schema import InteractionLog

KINDS = frozenset({"api", "sync", "action", "passthrough", "webhook"})

# A stored request or response is at most this many characters of JSON (docs/api.md "Logs"); a larger
# part is replaced by ``{"truncated": true, "size": <chars>, "excerpt": "<its first characters>"}``.
MAX_LOGGED_CHARS = 16_384
# URLs and error texts are cut to this many characters
MAX_LOGGED_TEXT = 4096
# what a webhook receiver answered is kept (and shown by GET /v1/logs/{id}) as this many characters
WEBHOOK_ANSWER_EXCERPT = 200


def truncate_text(text: str, limit: int = MAX_LOGGED_TEXT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters]"


def bounded(data: dict[str, Any], limit: int = MAX_LOGGED_CHARS) -> dict[str, Any]:
    """``data`` (already redacted) if its JSON fits in ``limit`` characters; otherwise each oversized
    top-level part becomes an excerpt, and if that is still too large the whole becomes one."""
    text = json.dumps(data, default=str)
    if len(text) <= limit:
        return data
    part_limit = limit // 4
    parts: dict[str, Any] = {}
    for key, value in data.items():
        value_text = json.dumps(value, default=str)
        parts[key] = value if len(value_text) <= part_limit else _excerpt(value_text, part_limit)
    if len(json.dumps(parts, default=str)) <= limit:
        return parts
    return _excerpt(text, limit - 100)


def _answer_excerpt(kind: str, response: dict[str, Any]) -> dict[str, Any]:
    """A webhook receiver is any URL: of its answer only a short excerpt is kept, so an endpoint aimed
    at an internal service cannot be used to read that service through the logs."""
    body = response.get("body")
    if kind == "webhook" and isinstance(body, str) and len(body) > WEBHOOK_ANSWER_EXCERPT:
        return {**response, "body": body[:WEBHOOK_ANSWER_EXCERPT]}
    return response


def _excerpt(text: str, limit: int) -> dict[str, Any]:
    return {"truncated": True, "size": len(text), "excerpt": text[:limit]}


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
    """Store one interaction; secrets in request, response, URL and error text are redacted first, then
    each is cut to its documented size (``MAX_LOGGED_CHARS``, ``MAX_LOGGED_TEXT``).

    ``log_id`` lets a caller hand out the id (e.g. an error envelope's log_url) before writing.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown log kind {kind!r}; expected one of {sorted(KINDS)}")
    entry = InteractionLog(
        id=log_id or random_id(),
        integration_id=integration_id,
        kind=kind,
        method=method.upper() if method else None,
        url=truncate_text(redact_text(url)) if url else None,
        status_code=status_code,
        request=bounded(redact(dict(request))) if request is not None else None,
        response=bounded(_answer_excerpt(kind, redact(dict(response)))) if response is not None else None,
        error=truncate_text(redact_text(error)) if error else None,
        duration_ms=duration_ms,
        created_at=now or datetime.now(UTC),
    )
    session.add(entry)
    session.flush()
    return entry


def get_log(session: Session, log_id: str) -> InteractionLog | None:
    return session.get(InteractionLog, log_id)
