"""One 360Learning budget per company across every process: three `lmsbridge worker` processes and two
API processes (`serve --workers 2`) all work on one company at once — a FULL sync, 200 enroll calls,
passthrough reads in a loop — against a sandbox that answers 429 above 50 reads or 10 writes in any
second. Measured at the sandbox: not one 429."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import processes
from sqlalchemy import Engine, select

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.schema import SyncRun, User
from waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

COURSE = {"type": "EXTERNAL", "title": "Budget course", "course_url": "https://content.example/c/budget"}
ENROLLS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_state(db: Engine, run_id: str) -> str | None:
    with session_scope(db, readonly=True) as session:
        run = session.get(SyncRun, run_id)
        return run.state if run is not None and run.state in sync_runs.TERMINAL_STATES else None


async def test_three_workers_and_two_api_processes_share_one_company_budget(
    store: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = store
    box = SecretBox.from_settings(settings)
    port = _free_port()
    with running_sandbox(
        seed=31, users=2000, courses=300, attempts=30_000, rate_limit_enabled=True
    ) as sandbox:
        with session_scope(db) as session:
            credentials = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
            integration_id = create_integration(
                session, box, tool="360learning", base_url=sandbox.base_url, credentials=credentials
            ).id
            _, api_key = create_api_key(session, "budget test")
        headers = {"Authorization": f"Bearer {api_key}", "X-Integration-Id": integration_id}
        serve = ["serve", "--workers", "2", "--port", str(port)]
        worker = ["worker", "--concurrency", "8"]
        with processes(settings, tmp_path, serve, worker, worker, worker):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
                await eventually(lambda: _answers(client), within=60, what="the API processes")
                first = (await client.post("/v1/force-sync", json={"type": "FULL"})).json()["data"]
                assert (
                    await eventually(
                        lambda: _run_state(db, first["sync_id"]), within=240, what="the first FULL"
                    )
                    == "SUCCEEDED"
                )
                await eventually(lambda: _readable(client), within=60, what="the synced data to be served")
                revision_id = await _own_course_revision(client)
                users = _active_users(db, integration_id, ENROLLS)
                sandbox.control.reset_counters()

                second = (await client.post("/v1/force-sync", json={"type": "FULL"})).json()["data"]
                stop = asyncio.Event()
                # more demand than the budget: six callers reading as fast as they are answered
                reads = [asyncio.create_task(_passthrough_loop(client, stop)) for _ in range(6)]
                limit = asyncio.Semaphore(8)

                async def enroll(user_id: str) -> int:
                    async with limit:
                        body = {"user_id": user_id, "course_revision_id": revision_id}
                        return (await client.post("/v1/lms/course-progressions", json=body)).status_code

                statuses = await asyncio.gather(*(enroll(u) for u in users))
                state = await eventually(
                    lambda: _run_state(db, second["sync_id"]), within=300, what="the second FULL"
                )
                stop.set()
                passthrough_calls = sum(await asyncio.gather(*reads))
        counters = sandbox.control.counters()
    assert state == "SUCCEEDED"
    assert all(200 <= s < 300 for s in statuses), sorted(set(statuses))
    assert passthrough_calls > 0
    # the sandbox answers 429 whenever any one-second window holds more than 50 reads or 10 writes
    assert counters["too_many_requests"] == 0, counters
    assert sum(counters["calls"].values()) > 150  # the company's budget was really used


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/v1/check-api-key")).status_code == 200
    except httpx.TransportError:
        return False


async def _readable(client: httpx.AsyncClient) -> bool:
    return (await client.get("/v1/lms/users", params={"page_size": 1})).status_code == 200


async def _own_course_revision(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/v1/lms/courses/bulk", json={"items": [{"origin_id": "budget-1", "course": COURSE}]}
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]

    async def done() -> dict[str, Any] | None:
        body = (await client.get(f"/v1/lms/courses/bulk/{task_id}")).json()["data"]
        return body if body["status"] == "COMPLETED" else None

    task = await eventually(done, within=120, what="the course upsert")
    course_id = task["data"][0]["data"]["id"]
    listed = (await client.get("/v1/lms/courses", params={"ids": course_id})).json()["data"]["results"]
    return str(listed[0]["revisions"][0]["id"])


def _active_users(db: Engine, integration_id: str, count: int) -> list[str]:
    with session_scope(db, readonly=True) as session:
        rows = session.scalars(
            select(User.id)
            .where(
                User.integration_id == integration_id, User.status == "ACTIVE", User.work_email.is_not(None)
            )
            .order_by(User.id)
            .limit(count)
        )
        users = list(rows)
    assert len(users) == count
    return users


async def _passthrough_loop(client: httpx.AsyncClient, stop: asyncio.Event) -> int:
    calls = 0
    while not stop.is_set():
        response = await client.post(
            "/v1/passthrough/360learning/v2", json={"method": "GET", "path": "users", "params": {}}
        )
        assert response.status_code == 200, response.text
        calls += 1
    return calls
