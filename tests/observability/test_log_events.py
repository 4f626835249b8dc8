"""The named events the job system calls (webhook deliveries, schedule decisions), the redaction of
every line, query strings in request lines, and the endpoint templates of remote-call metrics."""

from __future__ import annotations

import io
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from lmsbridge import logs, metrics
from lmsbridge.metrics import MULTIPROC_ENV, endpoint_template
from lmsbridge.observability import setup_process
from lmsbridge.redaction import redact_query
from lmsbridge.settings import Settings
from log_capture import captured_log


def _deliveries(outcome: str) -> float:
    value = REGISTRY.get_sample_value("lmsbridge_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


def test_delivery_outcomes_are_logged_and_counted() -> None:
    before = _deliveries("gave_up"), _deliveries("recovered")
    retry_at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with captured_log("INFO") as log:
        logs.log_delivery_outcome(
            "gave_up",
            endpoint_id="ep1",
            delivery_id="d1",
            event_type="sync-finished",
            integration_id="360learning:abc",
            attempt=8,
            status_code=500,
            reason="POST https://hooks.example/in?token=s3cr3t-token answered 500",
            next_attempt_at=retry_at,
        )
        logs.log_delivery_outcome(
            "recovered", endpoint_id="ep1", delivery_id="d2", attempt=1, status_code=200
        )
    gave_up, recovered = log.events("webhook.delivery")
    assert gave_up["level"] == "warning" and gave_up["outcome"] == "gave_up"
    assert (gave_up["endpoint_id"], gave_up["delivery_id"], gave_up["attempt"]) == ("ep1", "d1", 8)
    assert gave_up["next_attempt_at"] == retry_at.isoformat()
    assert "token=[REDACTED]" in gave_up["reason"] and "s3cr3t-token" not in log.text
    assert recovered["level"] == "info" and "reason" not in recovered  # unset fields are left out
    assert (_deliveries("gave_up"), _deliveries("recovered")) == (before[0] + 1, before[1] + 1)


def test_schedule_decisions() -> None:
    with captured_log("INFO") as log:
        logs.log_schedule_decision(
            "paused", integration_id="360learning:abc", reason="5 failures in a row", consecutive_failures=5
        )
        logs.log_schedule_decision("queued", integration_id="360learning:abc", sync_type="DELTA", run_id="r1")
    paused, queued = log.events("schedule.decision")
    assert (paused["level"], paused["decision"], paused["consecutive_failures"]) == ("warning", "paused", 5)
    assert (queued["level"], queued["sync_type"], queued["run_id"]) == ("info", "DELTA", "r1")


def test_every_line_is_redacted_whatever_logs_it() -> None:
    with captured_log("DEBUG") as log:
        logging.getLogger("some.library").info("calling with Authorization: Bearer abc.def.ghi")
        logging.getLogger("some.library").info("Token\tfrom-a-tab")
        logs.events.info(
            "custom",
            client_secret="plain-secret",
            details={"password": "pw", "n": 1},
            warnings=["users skipped", "retry with Bearer in-a-list"],
        )
        try:
            raise RuntimeError('token rejected: {"access_token": "tok-xyz"}')
        except RuntimeError:
            logging.getLogger("lmsbridge.test").exception("failed")
    text = log.text
    for secret in ("abc.def.ghi", "from-a-tab", "plain-secret", '"pw"', "tok-xyz", "in-a-list"):
        assert secret not in text
    custom = log.events("custom")[0]
    assert custom["client_secret"] == "[REDACTED]" and custom["details"] == {"password": "[REDACTED]", "n": 1}
    assert custom["warnings"] == ["users skipped", "retry with Bearer [REDACTED]"]
    failed = log.events("failed")[0]
    assert "RuntimeError" in failed["exception"] and failed["logger"] == "lmsbridge.test"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("page_size=5&access_token=t0k&cursor=abc", "page_size=5&access_token=[REDACTED]&cursor=abc"),
        ("api_key=k&client_secret=s", "api_key=[REDACTED]&client_secret=[REDACTED]"),
        ("Client-Secret=s&x", "Client-Secret=[REDACTED]&x"),
        (
            "ids=a%2Cb&updated_after=2026-01-01T00%3A00%3A00Z",
            "ids=a%2Cb&updated_after=2026-01-01T00%3A00%3A00Z",
        ),
        ("", ""),
    ],
)
def test_redact_query(query: str, expected: str) -> None:
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/v2/users", "/api/v2/users"),
        ("/api/v2/courses/5f1b2c3d4e5f6a7b8c9d0e1f", "/api/v2/courses/{id}"),
        ("/api/v2/courses/stats", "/api/v2/courses/stats"),
        ("/api/v2/bulk/integrations/ab12/stats", "/api/v2/bulk/integrations/{id}/stats"),
        ("/api/v2/bulk/operations/op-1/results", "/api/v2/bulk/operations/{id}/results"),
        ("/api/v2/oauth2/token", "/api/v2/oauth2/token"),
    ],
)
def test_endpoint_templates_hold_no_ids(path: str, template: str) -> None:
    assert endpoint_template(path) == template


def test_process_setup_keeps_metrics_built_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI command run inside a process that already counts (a test, an embedding) must not switch
    /metrics to an empty shared directory."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    metrics.ACTION_TASKS.labels(kind="probe", state="COMPLETED").inc()
    with captured_log("INFO"):  # restores this process's logging afterwards
        setup_process(Settings(data_dir=tmp_path / "data", metrics_enabled=True))
    assert MULTIPROC_ENV not in os.environ
    assert not (tmp_path / "data" / "metrics").exists()
    assert b'lmsbridge_action_tasks_total{kind="probe",state="COMPLETED"}' in metrics.exposition()


def test_console_format_and_the_default_format() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logs.configure_logging("info", "console", stream=buffer)
        logs.log_sync_started(integration_id="360learning:abc", run_id="r1", sync_type="DELTA", resumed=True)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    line = buffer.getvalue()
    assert "sync.started" in line and "integration_id=360learning:abc" in line and "sync_type=DELTA" in line
    assert "\x1b[" not in line  # no colours into a file
    assert logs.default_format(io.StringIO()) == "json"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.default_format(Terminal()) == "console"
