"""A client that reads the API when sync-finished arrives (the point of the webhook) gets the data: the
first FULL sync's events are written only once the model tests have completed the setup."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from webhook_support import Receiver, running_receiver, wait_until_async

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.features.sync_hooks import feature_hooks
from lmsbridge.runtime import Runtime
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from lmsbridge.webhooks.endpoints import create_endpoint
from loopback import serve

# how long the model tests wait for a (premature) sync-finished to be delivered and read
WINDOW_S = 1.0


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=9, users=20, courses=8, attempts=120, integrations=1) as sb:
        yield sb


class ReadingReceiver:
    """On each sync-finished, reads the synced users through the API before answering."""

    def __init__(self, api_url: str, api_key: str) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.reads: list[tuple[int, Any]] = []
        self.lock = threading.Lock()
        self.finished_seen = threading.Event()

    def on_event(self, body: dict[str, Any]) -> None:
        if body["type"] != "sync-finished":
            return
        answer = httpx.get(
            f"{self.api_url}/v1/lms/users",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "X-Integration-Id": body["data"]["integration_id"],
            },
            timeout=10,
        )
        with self.lock:
            self.reads.append((answer.status_code, answer.json()))
        self.finished_seen.set()


async def test_reads_on_the_first_sync_finished_succeed(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings
) -> None:
    with session_scope(db) as session:
        _, api_key = create_api_key(session, "receiver")
    with serve(create_app(settings, engine=db)) as api_url, running_receiver() as receiver:
        reader = ReadingReceiver(api_url, api_key)
        original = receiver.answer

        def answer(path: str, headers: dict[str, str], body: bytes, base: Receiver = receiver) -> int:
            reader.on_event(json.loads(body))
            return original(path, headers, body)

        receiver.answer = answer  # type: ignore[method-assign]
        with session_scope(db) as session:
            create_endpoint(session, box, receiver.url)
            integration_id = create_integration(
                session,
                box,
                tool="360learning",
                base_url=sandbox.base_url,
                credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
            ).id
        hooks = feature_hooks(settings)
        model_tests = hooks.pop("after_full")

        async def tests_after_a_receiver_could_read(*args: Any) -> Any:
            # widen the window between the run's end and the model tests: a sync-finished written at
            # the run's end is delivered and read inside it (the bound only ends the wait when, as
            # it should be, no event is there yet)
            await asyncio.to_thread(reader.finished_seen.wait, WINDOW_S)
            return await model_tests(*args)

        engine = SyncEngine(
            db,
            box,
            options=SyncOptions(
                public_base_url=settings.public_base_url,
                after_full=tests_after_a_receiver_could_read,
                **hooks,
            ),
        )
        # deliveries run as jobs of a working process, as in `lmsbridge serve`
        deliverer = Runtime(settings.model_copy(update={"job_poll_seconds": 0.01}), db, schedule=False)
        await deliverer.start()
        try:
            outcome = await engine.run_new(integration_id, "FULL")
            assert outcome.state == "SUCCEEDED", outcome.error
            await wait_until_async(
                lambda: len(reader.reads) == 1, what="the receiver to read on sync-finished"
            )
        finally:
            await deliverer.stop()
    status, body = reader.reads[0]
    assert status == 200, body
    assert body["data"]["results"], "the first page of users is empty"
    finished = receiver.bodies("sync-finished")
    assert [b["data"]["sync_id"] for b in finished] == [outcome.run_id]
    # the setup change is announced once, by the model tests, before sync-finished
    types = [b["type"] for b in receiver.bodies()]
    assert types.count("integration-state-changed") == 1
    assert types.index("integration-state-changed") < types.index("sync-finished")
