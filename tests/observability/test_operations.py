"""The operator's view of a running server, over real HTTP: request lines whose id is the error's
log_url, metrics that move with a sync and with actions, health and readiness (also with a database
that cannot be reached or is not migrated), and no secret in any log line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from observe_support import scrape, total, value, wait_for

from lmsbridge.api.app import create_app
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database
from log_capture import CapturedLog, captured_log
from loopback import bound_socket, serve

COURSE = {"type": "EXTERNAL", "title": "Observed course", "course_url": "https://content.example/c/obs"}


def _settings(tmp_path: Path, database_url: str, port: int, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        encryption_key=Fernet.generate_key().decode(),
        public_base_url=f"http://127.0.0.1:{port}",
        **extra,
    )


class Served:
    def __init__(self, client: httpx.Client, settings: Settings, api_key: str, log: CapturedLog) -> None:
        self.client, self.settings, self.api_key, self.log = client, settings, api_key, log


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=7, users=30, courses=10, attempts=200, integrations=1) as sb:
        yield sb


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sock = bound_socket()
    settings = _settings(tmp_path, database_url, sock.getsockname()[1])
    with session_scope(engine) as session:
        _, api_key = create_api_key(session, "observability")
    try:
        with (
            captured_log("DEBUG") as log,
            serve(create_app(settings, engine=engine, background=True), sock) as base_url,
            httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
            ) as client,
        ):
            yield Served(client, settings, api_key, log)
    finally:
        engine.dispose()


def _connect(client: httpx.Client, sb: RunningSandbox, secret: str) -> httpx.Response:
    return client.post(
        "/v1/integrations",
        json={
            "tool": "360learning",
            "host": sb.base_url,
            "credentials": {"client_id": sb.client_id, "client_secret": secret},
            "end_user": {"organization_name": "Observed Corp", "creator_email": "ops@observed.example"},
        },
    )


def test_metrics_move_with_a_sync_and_actions(served: Served, sandbox: RunningSandbox) -> None:
    client = served.client
    before = scrape(client)

    reply = _connect(client, sandbox, sandbox.client_secret)
    assert reply.status_code == 200, reply.text
    integration, sync_id = reply.json()["data"]["id"], reply.json()["data"]["sync_id"]

    def sync_ended() -> dict[str, Any] | None:
        runs = client.get(f"/v1/integrations/{integration}/syncs").json()["data"]
        return next((r for r in runs if r["id"] == sync_id and r["state"] not in ("QUEUED", "RUNNING")), None)

    run = wait_for(sync_ended, "the first FULL sync")
    assert run["state"] == "SUCCEEDED", run
    # the run's end is counted right after its row is written: wait for the counter, not for time
    wait_for(
        lambda: (
            value(scrape(client), "lmsbridge_sync_runs_total", type="FULL", state="SUCCEEDED")
            == value(before, "lmsbridge_sync_runs_total", type="FULL", state="SUCCEEDED") + 1
        ),
        "the sync's counter",
    )
    after_sync = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after_sync, name, **labels) - value(before, name, **labels)

    assert moved("lmsbridge_sync_duration_seconds_count", type="FULL") == 1
    assert moved("lmsbridge_records_written_total", model="users", kind="created") == len(
        sandbox.tenant.users
    )
    calls = total(after_sync, "lmsbridge_remote_calls_total") - total(before, "lmsbridge_remote_calls_total")
    assert calls >= run["api_calls"] > 0  # the connect's own calls (token, scope probes) come on top
    assert moved("lmsbridge_remote_calls_total", method="GET", endpoint="/api/v2/users", status="200") >= 1
    assert (
        moved("lmsbridge_remote_calls_total", method="POST", endpoint="/api/v2/oauth2/token", status="200")
        >= 1
    )
    # the API's own latency histogram, by route template
    assert (
        moved(
            "lmsbridge_http_request_duration_seconds_count",
            method="GET",
            route="/v1/integrations/{integration_id}/syncs",
            status="200",
        )
        >= 1
    )

    # actions (once the per-model tests completed the setup): upsert an own course, enroll a user in it
    wait_for(
        lambda: client.get(f"/v1/integrations/{integration}").json()["data"]["setup_status"] == "COMPLETED",
        "the integration's setup",
    )
    headers = {"X-Integration-Id": integration}
    upsert = client.post(
        "/v1/lms/courses/bulk", json={"items": [{"origin_id": "obs-1", "course": COURSE}]}, headers=headers
    )
    assert upsert.status_code == 200, upsert.text
    task_id = upsert.json()["data"]["task_id"]

    def upserted() -> dict[str, Any] | None:
        body = client.get(f"/v1/lms/courses/bulk/{task_id}", headers=headers).json()["data"]
        return body if body["status"] == "COMPLETED" else None

    course_id = wait_for(upserted, "the upsert task")["data"][0]["data"]["id"]
    course = client.get("/v1/lms/courses", params={"ids": course_id}, headers=headers).json()["data"]
    revision = course["results"][0]["revisions"][0]["id"]
    users = client.get("/v1/lms/users", params={"page_size": 50}, headers=headers).json()["data"]["results"]
    user = next(u for u in users if u["status"] == "ACTIVE" and u["work_email"])
    enroll = client.post(
        "/v1/lms/course-progressions",
        json={"user_id": user["id"], "course_revision_id": revision},
        headers=headers,
    )
    assert enroll.status_code == 200, enroll.text
    wait_for(
        lambda: (
            value(scrape(client), "lmsbridge_action_tasks_total", kind="enroll", state="COMPLETED")
            == value(before, "lmsbridge_action_tasks_total", kind="enroll", state="COMPLETED") + 1
        ),
        "the enroll task's counter",
    )
    after = scrape(client)
    assert (
        value(after, "lmsbridge_action_tasks_total", kind="courses_upsert", state="COMPLETED")
        == value(before, "lmsbridge_action_tasks_total", kind="courses_upsert", state="COMPLETED") + 1
    )
    bulk = "/api/v2/bulk/integrations/{id}/stats"
    assert total(after, "lmsbridge_remote_calls_total", method="POST", endpoint=bulk) > total(
        before, "lmsbridge_remote_calls_total", method="POST", endpoint=bulk
    )

    # the process log has the same story, line by line
    (sync_end,) = [e for e in served.log.events("sync.finished") if e["run_id"] == sync_id]
    assert sync_end["integration_id"] == integration and sync_end["state"] == "SUCCEEDED"
    tasks = {(e["kind"], e["state"]) for e in served.log.events("action.finished")}
    assert {("courses_upsert", "COMPLETED"), ("enroll", "COMPLETED")} <= tasks
    for line in served.log.events("action.finished"):
        assert line["integration_id"] == integration and line["task_id"] and line["duration_s"] >= 0
    for secret in (sandbox.client_secret, served.api_key, *sandbox.tenant.tokens):
        assert secret not in served.log.text


def test_request_lines_carry_the_log_url_id_and_no_secret(served: Served, sandbox: RunningSandbox) -> None:
    client = served.client
    wrong = "wrong-secret-" + "x" * 20
    refused = _connect(client, sandbox, wrong)
    assert refused.status_code >= 400
    log_url = refused.json()["error"]["log_url"]
    request_id = log_url.rsplit("/", 1)[-1]
    assert refused.headers["X-Request-Id"] == request_id
    # the interaction log the envelope names is there
    assert client.get(f"/v1/logs/{request_id}").status_code == 200

    listed = client.get("/v1/lms/users", params={"page_size": "many", "access_token": "tok-123456789"})
    assert listed.status_code == 400

    # a request's line is written once its answer went out: wait for it, not for time
    def request_lines() -> dict[str, dict[str, Any]]:
        lines = {line["request_id"]: line for line in served.log.events("http.request")}
        return lines if {request_id, listed.headers["X-Request-Id"]} <= set(lines) else {}

    lines = wait_for(request_lines, "the request lines", timeout=10)
    connect_line = lines[request_id]
    assert (connect_line["method"], connect_line["route"]) == ("POST", "/v1/integrations")
    assert connect_line["status"] == refused.status_code and connect_line["duration_ms"] > 0
    users_line = lines[listed.headers["X-Request-Id"]]
    assert users_line["route"] == "/v1/lms/users" and users_line["status"] == 400
    assert "access_token=[REDACTED]" in users_line["query"] and "page_size=many" in users_line["query"]
    # uvicorn's access log is replaced: one line per request, ours
    assert (
        sum(1 for line in served.log.lines() if "request_id" in line and line["request_id"] == request_id)
        == 1
    )

    for secret in (wrong, "tok-123456789", served.api_key, sandbox.client_secret):
        assert secret not in served.log.text
    assert served.settings.encryption_key and served.settings.encryption_key not in served.log.text


def test_health_and_readiness_of_a_working_server(served: Served) -> None:
    anonymous = httpx.Client(base_url=str(served.client.base_url))
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "failing": [],
        "checks": {"database": "ok", "migrations": "ok", "background_services": "ok", "job_backend": "ok"},
    }
    # unauthenticated by default
    assert anonymous.get("/metrics").status_code == 200


@pytest.mark.parametrize("problem", ["unreachable", "not_migrated"])
def test_readiness_names_the_failing_check(problem: str, tmp_path: Path) -> None:
    sock = bound_socket()
    if problem == "unreachable":  # nothing listens on port 1
        url = "postgresql+psycopg://lmsbridge:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"
        failing = ["database", "migrations"]
    else:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        failing = ["migrations"]
    settings = _settings(tmp_path, url, sock.getsockname()[1])
    with captured_log("INFO") as log, serve(create_app(settings), sock) as base_url:
        health = httpx.get(f"{base_url}/healthz")
        ready = httpx.get(f"{base_url}/readyz", timeout=30)
    assert health.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready" and body["failing"] == failing
    if problem == "not_migrated":
        assert body["checks"]["migrations"].startswith("at revision none, expected ")
        assert body["checks"]["database"] == "ok"
    # nothing about the database leaks to an anonymous caller; the log has no password
    for leak in ("127.0.0.1:1", "hunter2", "lmsbridge:", "nowhere", str(tmp_path)):
        assert leak not in ready.text
    assert "hunter2" not in log.text


def test_metrics_token_and_off_switch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_database(url)
    sock = bound_socket()
    settings = _settings(tmp_path, url, sock.getsockname()[1], metrics_token="scrape-me")
    with serve(create_app(settings), sock) as base_url, httpx.Client(base_url=base_url) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "PLATFORM.AUTHENTICATION_INVALID"
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        samples = scrape(client, Authorization="Bearer scrape-me")
        assert any(name.startswith("lmsbridge_") for name, _ in samples)

    sock = bound_socket()
    off = _settings(tmp_path, url, sock.getsockname()[1], metrics_enabled=False)
    with serve(create_app(off), sock) as base_url:
        assert httpx.get(f"{base_url}/metrics").status_code == 404
        assert httpx.get(f"{base_url}/readyz").status_code == 200
