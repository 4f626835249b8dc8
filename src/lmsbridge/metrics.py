"""Every Prometheus metric of lmsbridge, and the ``/metrics`` exposition.

Several processes (``serve --workers N``, ``lmsbridge worker``) share one multi-process directory
(prometheus-client's multi-process mode): ``observability.setup_process`` points
``PROMETHEUS_MULTIPROC_DIR`` at ``<data dir>/metrics`` unless the operator set it, before this module
is imported (the client library picks its storage when the first metric is built). Any process's
``/metrics`` then reports the sum over all of them. Without the variable (tests, embedding) metrics
live in the process.
"""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# decided once, with the metrics below: a directory set later cannot hold what they count
MULTIPROCESS_DIR = os.environ.get(MULTIPROC_ENV) or None
CONTENT_TYPE = CONTENT_TYPE_LATEST

# ---- syncs ----------------------------------------------------------------------------------------------

SYNC_RUNS = Counter(
    "lmsbridge_sync_runs", "Sync runs that ended, by type and final state.", ["type", "state"]
)
SYNC_DURATION = Histogram(
    "lmsbridge_sync_duration_seconds",
    "Duration of ended sync runs (start to end, resumptions included).",
    ["type"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
RECORDS_WRITTEN = Counter(
    "lmsbridge_records_written",
    "Records written by syncs, by unified model and kind (created, changed, deleted).",
    ["model", "kind"],
)

# ---- the LMS ----------------------------------------------------------------------------------------------

REMOTE_CALLS = Counter(
    "lmsbridge_remote_calls",
    "HTTP calls to the LMS by method, endpoint template and status ('error': no answer).",
    ["method", "endpoint", "status"],
)
REMOTE_THROTTLED = Counter(
    "lmsbridge_remote_throttled", "429 answers of the LMS, by endpoint template.", ["endpoint"]
)
RATE_BUDGET_WAIT = Histogram(
    "lmsbridge_rate_budget_wait_seconds",
    "Time a call waited for the company's rate budget before it was sent, by kind (read, write).",
    ["kind"],
    buckets=(0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# ---- background work --------------------------------------------------------------------------------------

# set by whichever process watches the queue; the most recent value of a live process is reported
JOB_QUEUE_DEPTH = Gauge(
    "lmsbridge_job_queue_depth",
    "Jobs waiting to run, by queue.",
    ["queue"],
    multiprocess_mode="livemostrecent",
)
JOB_OLDEST_AGE = Gauge(
    "lmsbridge_job_oldest_age_seconds",
    "Age of the oldest job waiting to run, by queue (0 when none waits).",
    ["queue"],
    multiprocess_mode="livemostrecent",
)
WEBHOOK_DELIVERIES = Counter(
    "lmsbridge_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, failed, gave_up, recovered).",
    ["outcome"],
)
WEBHOOK_BACKLOG_OLDEST_AGE = Gauge(
    "lmsbridge_webhook_backlog_oldest_age_seconds",
    "Age of the oldest webhook delivery not yet delivered (0 when none is due).",
    multiprocess_mode="livemostrecent",
)
ACTION_TASKS = Counter(
    "lmsbridge_action_tasks", "Action tasks that ended, by kind and state.", ["kind", "state"]
)

# ---- the API ----------------------------------------------------------------------------------------------

HTTP_REQUESTS = Histogram(
    "lmsbridge_http_request_duration_seconds",
    "API request latency by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


# Path segments of the LMS's API that are names, not ids; any other segment is an id (bounded labels).
_NAMED_SEGMENTS = frozenset(
    {
        "api",
        "v2",
        "oauth2",
        "token",
        "users",
        "courses",
        "stats",
        "integrations",
        "groups",
        "roles",
        "bulk",
        "operations",
        "results",
        "archive",
        "restore",
        "paths",
        "programs",
        "skills",
    }
)
_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def endpoint_template(path: str) -> str:
    """``/api/v2/courses/5f…/stats`` → ``/api/v2/courses/{id}/stats`` (no ids in label values)."""
    parts = [
        part if part in _NAMED_SEGMENTS or _VERSION.match(part) else "{id}"
        for part in path.split("?", 1)[0].strip("/").split("/")
        if part
    ]
    return "/" + "/".join(parts)


def count_remote_call(method: str, path: str, status: int | None) -> None:
    endpoint = endpoint_template(path)
    REMOTE_CALLS.labels(method=method, endpoint=endpoint, status=str(status) if status else "error").inc()
    if status == 429:
        REMOTE_THROTTLED.labels(endpoint=endpoint).inc()


# ---- exposition -----------------------------------------------------------------------------------------


def exposition() -> bytes:
    """The text exposition of this process, or of all processes sharing the multi-process directory."""
    if MULTIPROCESS_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
