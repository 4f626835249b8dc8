"""Real processes: a ``lmsbridge sync`` that ended and ``lmsbridge serve --workers 2`` share one metrics
directory, so any worker's ``/metrics`` counts what every process did; each process logs as JSON lines
(the output is not a terminal), its start-up included."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from observe_support import scrape, value, wait_for

from factories import make_integration
from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import running_sandbox
from lmsbridge.store.engine import make_engine
from lmsbridge.store.migrate import upgrade_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LMSBRIDGE_", "PROMETHEUS_"))}
    return {
        **clean,
        "LMSBRIDGE_DATA_DIR": str(data),
        "LMSBRIDGE_DATABASE_URL": f"sqlite:///{data / 'lmsbridge.db'}",
        "LMSBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LMSBRIDGE_ALLOW_PRIVATE_HOSTS": "true",  # the sandbox listens on loopback
    }


@contextmanager
def serving(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``lmsbridge serve --workers 2`` in its own process; yields its base URL once it is ready."""
    port = _free_port()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "lmsbridge.cli", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(up, "the server", timeout=60)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_workers_and_a_cli_sync_share_the_metrics(env: dict[str, str], tmp_path: Path) -> None:
    # a sync in its own process first, which then ends: its counts stay in the shared directory
    with running_sandbox(seed=5, users=12, courses=4, attempts=30) as sandbox:
        engine = make_engine(env["LMSBRIDGE_DATABASE_URL"])
        upgrade_database(engine)
        integration = make_integration(
            engine,
            SecretBox(env["LMSBRIDGE_ENCRYPTION_KEY"].encode()),
            base_url=sandbox.base_url,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
        )
        engine.dispose()
        done = subprocess.run(
            [sys.executable, "-m", "lmsbridge.cli", "sync", integration],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    # the CLI's own log: JSON lines (not a terminal) with the sync's start and end
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines if line["event"].startswith("sync.")] == [
        "sync.started",
        "sync.finished",
    ]

    log_path = tmp_path / "serve.log"
    with serving(env, log_path) as base:
        requests = 40
        for _ in range(requests):  # a new connection each: the two workers share the accepts
            assert httpx.get(f"{base}/healthz").status_code == 200

        def healthz_count() -> float:
            with httpx.Client(base_url=base) as client:
                return value(
                    scrape(client),
                    "lmsbridge_http_request_duration_seconds_count",
                    method="GET",
                    route="/healthz",
                    status="200",
                )

        # every scrape, whichever worker answers it, counts the requests of both
        wait_for(lambda: healthz_count() == requests, f"{requests} /healthz requests in /metrics")
        assert {healthz_count() for _ in range(10)} == {requests}
        with httpx.Client(base_url=base) as client:
            samples = scrape(client)
        # and the sync of the process that ended before the server started
        assert value(samples, "lmsbridge_sync_runs_total", type="FULL", state="SUCCEEDED") == 1
        assert value(samples, "lmsbridge_records_written_total", model="users", kind="created") == 12

    started = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    starts = [line for line in started if line["event"] == "lmsbridge.started"]
    assert len(starts) == 2 and {line["role"] for line in starts} == {"api"}
    assert sorted(len(line["background_services"]) > 0 for line in starts) == [False, True]
    assert {line["database_backend"] for line in starts} == {"sqlite"}
    # uvicorn's access log is off: request lines are ours
    assert not any('"GET /healthz' in line for line in log_path.read_text().splitlines())


def test_serve_keeps_an_idle_connection_open_longer_than_clients_reuse_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    # a server that closes an idle keep-alive connection first can close it just as a client (httpx
    # reuses one for 5 s) sends on it, and that request fails with a connection reset
    env = {**env, "LMSBRIDGE_API_REQUESTS_PER_CONNECTION": "0"}  # no closing on purpose either
    client_reuse_seconds = httpx.Limits().keepalive_expiry
    assert client_reuse_seconds is not None
    with serving(env, tmp_path / "serve.log") as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        try:
            connection.request("GET", "/healthz")
            first = connection.getresponse()
            assert first.status == 200 and first.read()  # the whole response: the connection is idle
            idle = connection.sock
            idle.settimeout(client_reuse_seconds + 2)
            # the server must not close it (recv returning b"") while a client would still reuse it
            with pytest.raises(TimeoutError):
                idle.recv(1)
            connection.request("GET", "/healthz")
            assert connection.sock is idle and connection.getresponse().status == 200
        finally:
            connection.close()
