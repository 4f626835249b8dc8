"""Process logs: the standard ``logging`` module rendered by structlog as console or JSON lines, every line
redacted, plus the named events operators read (start-up, syncs, action tasks, deliveries, schedule).

``configure_logging`` is called once at process start (``serve``, ``worker``, ``sync``, ``demo`` and each
``serve --workers N`` process). Events are structlog calls whose fields become JSON keys; values bound
with ``bind_context`` (integration id, run id) are added to every line logged in that asyncio task.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import IO, Any, Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

from lmsbridge import __version__
from lmsbridge.redaction import REDACTED, is_sensitive_key, redact_text
from lmsbridge.settings import Settings

LogFormat = Literal["console", "json"]

events = structlog.stdlib.get_logger("lmsbridge.events")
_HANDLER_NAME = "lmsbridge"


class Redacted(str):
    """A value already redacted by its producer (e.g. ``redact_query``): lines carry it as is."""

    __slots__ = ()


# field names repeat on every line: decide each once
_sensitive_key = lru_cache(maxsize=4096)(is_sensitive_key)


def _redact_string(value: str) -> str:
    # what redact_text looks for needs white space (an auth scheme), "=" (a parameter) or a quote
    # (JSON); ids, paths, routes and timestamps have none and skip the regular expressions
    if " " in value or "=" in value or '"' in value or "\t" in value or "\n" in value:
        return redact_text(value)
    return value


def _redact_event(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Defence in depth: a secret passed to a log call by mistake (a sensitive key, a bearer value, a
    ``client_secret=…`` inside a message or a traceback) never reaches the output."""
    for key, value in event_dict.items():
        if value is None:
            continue
        if _sensitive_key(key):
            event_dict[key] = REDACTED
        elif not isinstance(value, Redacted):
            event_dict[key] = _redact_value(value)
    return event_dict


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _redact_string(value)
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if v is not None and _sensitive_key(str(k)) else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


# structlog calls always go through the standard logging module (its handlers, levels and filters)
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_shared_processors(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def default_format(stream: IO[str] | None = None) -> LogFormat:
    """Console on a terminal, JSON otherwise (a log collector reads the process's output)."""
    target = stream or sys.stderr
    return "console" if target.isatty() else "json"


def make_formatter(log_format: LogFormat, *, colors: bool = False) -> logging.Formatter:
    # exceptions as plain text: a rich traceback would print local variables (credentials among them)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    )
    return structlog.stdlib.ProcessorFormatter(
        # lines of other loggers (uvicorn, libraries): their `extra=` fields become keys too
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
    )


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time: Rich's progress display swaps it for a proxy that
    prints log lines above the bars."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def configure_logging(
    level: str = "INFO", log_format: LogFormat | None = None, *, stream: IO[str] | None = None
) -> None:
    """Route every logger of the process (ours, uvicorn's, libraries') to one handler on ``stream``
    (stderr) rendered as ``log_format``. Calling it again replaces the handler."""
    target = stream or sys.stderr
    handler = logging.StreamHandler(target) if stream is not None else _CurrentStderr()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(log_format or default_format(target), colors=target.isatty()))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own loggers propagate to ours; its access log is replaced by api/request_log.py
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # per-request lines of the HTTP client, the migration tool's and the job engine's chatter (a line
    # per job start and end; ours say what the job did) would drown our events
    for name in ("httpx", "httpcore", "alembic", "procrastinate"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


@contextmanager
def bind_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (integration_id, run_id, task_id) to every line logged inside the block, also by
    tasks it starts (contextvars)."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def seconds_between(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    if (started.tzinfo is None) != (ended.tzinfo is None):
        started, ended = started.replace(tzinfo=None), ended.replace(tzinfo=None)
    return round((ended - started).total_seconds(), 3)


# ---- start-up -------------------------------------------------------------------------------------------

# what a process that claimed the background services runs (runtime.py)
BACKGROUND_SERVICES = ["syncs", "schedule", "action_tasks", "webhook_deliveries", "retention"]


def database_backend(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


def log_startup(
    *, role: str, database_backend: str, job_backend: str, services: list[str], **extra: Any
) -> None:
    """One line when a process starts: what it is and which background services it runs."""
    events.info(
        "lmsbridge.started",
        version=__version__,
        role=role,
        database_backend=database_backend,
        job_backend=job_backend,
        background_services=services,
        **extra,
    )


# ---- syncs ----------------------------------------------------------------------------------------------


def log_sync_started(*, integration_id: str, run_id: str, sync_type: str, resumed: bool) -> None:
    events.info(
        "sync.started", integration_id=integration_id, run_id=run_id, sync_type=sync_type, resumed=resumed
    )


def log_sync_finished(
    *,
    integration_id: str,
    run_id: str,
    sync_type: str,
    state: str,
    counts: Mapping[str, Mapping[str, int]],
    api_calls: int,
    throttled: int,
    retries: int,
    started_at: datetime | None,
    ended_at: datetime | None,
    warnings: list[str],
    error: str | None,
) -> None:
    """A run's end: its state, per-model counts, API calls, 429s, retries and duration; the reason
    (error, else warnings) when it did not fully succeed."""
    fields: dict[str, Any] = {
        "integration_id": integration_id,
        "run_id": run_id,
        "sync_type": sync_type,
        "state": state,
        "records": {model: dict(c) for model, c in counts.items()},
        "api_calls": api_calls,
        "throttled": throttled,
        "retries": retries,
        "duration_s": seconds_between(started_at, ended_at),
    }
    if state == "SUCCEEDED":
        events.info("sync.finished", **fields)
    else:
        events.warning("sync.finished", **fields, reason=error or "; ".join(warnings), warnings=warnings)


def log_sync_stream_failed(*, integration_id: str, run_id: str, stream: str, reason: str) -> None:
    events.warning(
        "sync.stream_failed", integration_id=integration_id, run_id=run_id, stream=stream, reason=reason
    )


def log_remote_retry(*, reason: str, attempt: int, wait_s: float | None, throttled: bool) -> None:
    """A call to the LMS is retried (integration and run ids come from the bound context)."""
    events.info("remote.retry", reason=reason, attempt=attempt, wait_s=wait_s, throttled=throttled)


# ---- action tasks ---------------------------------------------------------------------------------------


def log_task_finished(
    *,
    integration_id: str,
    task_id: str,
    kind: str,
    state: str,
    attempts: int,
    duration_s: float | None,
    error: Mapping[str, Any] | None,
) -> None:
    fields: dict[str, Any] = {
        "integration_id": integration_id,
        "task_id": task_id,
        "kind": kind,
        "state": state,
        "attempts": attempts,
        "duration_s": duration_s,
    }
    if error:
        events.warning("action.finished", **fields, error_code=error.get("code"), reason=error.get("message"))
    else:
        events.info("action.finished", **fields)


# ---- for the job system: webhook deliveries and the schedule -------------------------------------------

DeliveryOutcome = Literal["delivered", "failed", "gave_up", "recovered"]


def log_delivery_outcome(
    outcome: DeliveryOutcome,
    *,
    endpoint_id: str,
    delivery_id: str,
    event_type: str | None = None,
    integration_id: str | None = None,
    attempt: int | None = None,
    status_code: int | None = None,
    duration_s: float | None = None,
    reason: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """One webhook delivery attempt's outcome (also counted in ``lmsbridge_webhook_deliveries_total``):
    ``delivered``; ``failed`` (will be retried, give ``reason`` and ``next_attempt_at``); ``gave_up`` (no
    more attempts); ``recovered`` (an endpoint that was failing accepted a delivery again)."""
    from lmsbridge import metrics

    metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
    fields: dict[str, Any] = {
        "outcome": outcome,
        "endpoint_id": endpoint_id,
        "delivery_id": delivery_id,
        "event_type": event_type,
        "integration_id": integration_id,
        "attempt": attempt,
        "status_code": status_code,
        "duration_s": duration_s,
        "reason": reason,
        "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    if outcome in ("failed", "gave_up"):
        events.warning("webhook.delivery", **fields)
    else:
        events.info("webhook.delivery", **fields)


def log_schedule_decision(
    decision: str,
    *,
    integration_id: str,
    sync_type: str | None = None,
    reason: str | None = None,
    run_id: str | None = None,
    next_sync_at: datetime | None = None,
    consecutive_failures: int | None = None,
) -> None:
    """What the scheduler decided for one integration and why: ``queued``, ``skipped`` (e.g. a run is
    active, the integration is disabled), ``backed_off``, ``paused``, ``resumed``."""
    fields: dict[str, Any] = {
        "decision": decision,
        "integration_id": integration_id,
        "sync_type": sync_type,
        "reason": reason,
        "run_id": run_id,
        "next_sync_at": next_sync_at.isoformat() if next_sync_at else None,
        "consecutive_failures": consecutive_failures,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    if decision == "paused":
        events.warning("schedule.decision", **fields)
    else:
        events.info("schedule.decision", **fields)
