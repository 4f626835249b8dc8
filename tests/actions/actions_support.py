"""What action tests share: a sandbox tenant synced into a store, the API on loopback, an action worker,
and helpers that read the sandbox's state and poll conditions with a deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from lmsbridge.actions.env import ActionOptions
from lmsbridge.api.app import create_app
from lmsbridge.connectors.learning360.config import ClientOptions, RetryPolicy
from lmsbridge.crypto import SecretBox
from lmsbridge.runtime import Runtime
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ActionTask
from waiting import eventually as eventually  # re-exported for the action tests

T = TypeVar("T")

# fast polling and short staleness so restarts and batches resolve within a test's patience
FAST = ActionOptions(
    batch_window_s=0.3,
    batch_max_wait_s=20.0,  # the burst test: a continuous stream of calls is cut this rarely
    poll_initial_s=0.05,
    poll_max_s=0.3,
    operation_timeout_s=60.0,
    stale_after_s=3.0,
    retry_delay_s=0.2,
)
CLIENT = ClientOptions.with_timeout(
    10.0, RetryPolicy(max_attempts=6, max_seconds=30, initial_wait=0.05, max_wait=0.5)
)


def make_settings(tmp_path: Path, database_url: str, key: bytes) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        encryption_key=key.decode(),
        public_base_url="http://127.0.0.1:9",
        job_poll_seconds=0.05,
        worker_stalled_seconds=FAST.stale_after_s,
    )


@dataclass
class ActionSetup:
    sandbox: RunningSandbox
    db: Engine
    box: SecretBox
    settings: Settings
    integration_id: str
    base_url: str
    api_key: str
    workers: list[Runtime] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-Integration-Id": self.integration_id}

    def client(self, timeout: float = 30, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=self.headers(), timeout=timeout, **kwargs)

    def new_worker(self, options: ActionOptions = FAST) -> Runtime:
        """A working process's job system (the sync schedule's periodic tasks are never due here)."""
        worker = Runtime(
            self.settings, self.db, action_options=options, connector_options={"options": CLIENT}
        )
        self.workers.append(worker)
        return worker

    @asynccontextmanager
    async def worker(self, options: ActionOptions = FAST) -> AsyncIterator[Runtime]:
        worker = self.new_worker(options)
        await worker.start()
        try:
            yield worker
        finally:
            await worker.stop()

    def task_states(self) -> dict[str, int]:
        with session_scope(self.db, readonly=True) as session:
            rows = session.execute(select(ActionTask.state, func.count()).group_by(ActionTask.state))
            return {state: count for state, count in rows}

    # ---- the sandbox's own state (the simulated 360Learning tenant) ---------------------------------

    def external_course(self, external_id: str) -> dict[str, Any] | None:
        tenant = self.sandbox.tenant
        for (_, ext), row in list(tenant.external_index.items()):
            if ext == external_id:
                return dict(tenant.courses.items[row])
        return None

    def sandbox_get(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        """A GET on the sandbox's API v2, as 360Learning answers it."""
        sb = self.sandbox
        token = httpx.post(
            f"{sb.base_url}/api/v2/oauth2/token",
            json={
                "grant_type": "client_credentials",
                "client_id": sb.client_id,
                "client_secret": sb.client_secret,
            },
        ).json()["access_token"]
        response = httpx.get(
            f"{sb.base_url}/api/v2{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}", "360-api-version": "v2.0"},
        )
        response.raise_for_status()
        return response.json()

    def attempts(self, user_id: str, course_id: str) -> list[dict[str, Any]]:
        params = [("userId[eq]", user_id), ("courseId[eq]", course_id)]
        return list(self.sandbox_get("/courses/stats", params))

    def bulk_operations_run(self) -> int:
        return int(self.sandbox.control.counters()["bulk_operations_run"])


def new_api_key(db: Engine) -> str:
    with session_scope(db) as session:
        _, plaintext = create_api_key(session, "action tests")
    return plaintext


def build_app(settings: Settings, db: Engine) -> FastAPI:
    return create_app(settings, engine=db)


def new_key() -> bytes:
    return Fernet.generate_key()
