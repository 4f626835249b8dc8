"""A SQLite store locked by another writer: BEGIN is retried inside the store, and a request that still
finds it locked is answered 503 with Retry-After in Kombo's envelope, never 500."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import ApiEnv, KomboContract, make_settings, new_api_key
from cryptography.fernet import Fernet

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database
from loopback import bound_socket, serve

# short, so the test's locked requests answer quickly; production waits 30 s
BUSY_TIMEOUT_MS = 150


@pytest.fixture
def busy_api(tmp_path: Path) -> Iterator[tuple[ApiEnv, Path]]:
    path = tmp_path / "lmsbridge.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    sock = bound_socket()
    settings = make_settings(tmp_path, url, sock.getsockname()[1])
    key = new_api_key(engine)
    try:
        with (
            serve(create_app(settings, engine=engine), sock) as base_url,
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
        ):
            box = SecretBox((settings.encryption_key or Fernet.generate_key().decode()).encode())
            yield ApiEnv(base_url, settings, engine, box, key, client), path
    finally:
        engine.dispose()


class _RetrySeen(logging.Handler):
    """Sets ``event`` when the store logs that it retries a locked BEGIN."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "database locked at BEGIN" in record.getMessage():
            self.event.set()


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None, timeout=5)
    writer.execute("BEGIN IMMEDIATE")  # a real concurrent writer: holds SQLite's write lock
    return writer


def test_locked_store_answers_503_then_recovers(busy_api: tuple[ApiEnv, Path], kombo: KomboContract) -> None:
    api, path = busy_api
    integration_id = api.integration()
    api.client.get("/v1/check-api-key")  # the key is verified and cached: no write needed for it
    writer = _hold_write_lock(path)
    try:
        response = api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": False})
        body = kombo.check("PutIntegrationsIntegrationIdEnabled", response)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert body["error"]["code"] == "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED"
        assert "locked" in body["error"]["message"]
        # reads are not blocked by a writer (WAL)
        assert api.client.get(f"/v1/integrations/{integration_id}").status_code == 200
    finally:
        writer.rollback()
        writer.close()
    again = api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": False})
    assert again.status_code == 200, again.text


def test_a_lock_released_during_the_retries_is_not_an_error(
    busy_api: tuple[ApiEnv, Path],
) -> None:
    api, path = busy_api
    integration_id = api.integration()
    api.client.get("/v1/check-api-key")
    seen = _RetrySeen()
    logging.getLogger("lmsbridge.store.engine").addHandler(seen)
    logging.getLogger("lmsbridge.store.engine").setLevel(logging.INFO)
    writer = _hold_write_lock(path)
    result: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: result.append(
            api.client.put(f"/v1/integrations/{integration_id}/enabled", json={"value": False})
        )
    )
    try:
        request.start()
        # the request's BEGIN timed out once and is being retried: now the other writer commits
        assert seen.event.wait(timeout=10), "the store never retried the locked BEGIN"
    finally:
        writer.rollback()
        writer.close()
        logging.getLogger("lmsbridge.store.engine").removeHandler(seen)
    request.join(timeout=10)
    assert result and result[0].status_code == 200, result[0].text if result else "no answer"
    assert api.client.get(f"/v1/integrations/{integration_id}").json()["data"]["status"] == "INACTIVE"


def test_a_burst_of_writes_is_never_a_500(busy_api: tuple[ApiEnv, Path]) -> None:
    """8 clients toggle integrations at once while another writer takes the lock now and then: every
    answer is 200 or 503 with Retry-After, never 500."""
    api, path = busy_api
    integrations = [api.integration() for _ in range(8)]
    statuses: list[int] = []
    lock = threading.Lock()
    stop_writer = threading.Event()

    def client(integration_id: str) -> None:
        with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {api.api_key}"}) as c:
            for n in range(40):
                reply = c.put(f"/v1/integrations/{integration_id}/enabled", json={"value": n % 2 == 0})
                assert reply.status_code != 503 or reply.headers["retry-after"] == "1"
                with lock:
                    statuses.append(reply.status_code)

    def other_writer() -> None:
        writer = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            while not stop_writer.is_set():
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("UPDATE api_keys SET name = name")
                stop_writer.wait(0.2)  # holds the lock longer than the busy timeout
                writer.execute("COMMIT")
                stop_writer.wait(0.05)
        finally:
            writer.close()

    writer_thread = threading.Thread(target=other_writer)
    clients = [threading.Thread(target=client, args=(i,)) for i in integrations]
    writer_thread.start()
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=120)
    stop_writer.set()
    writer_thread.join(timeout=10)
    assert len(statuses) == 8 * 40
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    print(f"burst: {statuses.count(200)} × 200, {statuses.count(503)} × 503")
    assert statuses.count(200) > 0
