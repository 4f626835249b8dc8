"""`lmsbridge worker`: the background services without the API, in a real process: it runs the due FULL
sync of a new integration against the sandbox, holds the data directory's background lock (a second
worker is refused in one line), and stops cleanly on SIGTERM, releasing the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select

from factories import make_integration
from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import running_sandbox
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.store.schema import SyncRun


def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "lmsbridge.cli", "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _runs(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with session_scope(engine, readonly=True) as session:
            return [run.state for run in session.scalars(select(SyncRun))]
    finally:
        engine.dispose()


def test_worker_runs_syncs_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database_url = f"sqlite:///{data / 'lmsbridge.db'}"
    key = Fernet.generate_key()
    env = {
        **os.environ,
        "LMSBRIDGE_DATA_DIR": str(data),
        "LMSBRIDGE_DATABASE_URL": database_url,
        "LMSBRIDGE_ENCRYPTION_KEY": key.decode(),
    }
    with running_sandbox(seed=3, users=20, courses=6, attempts=60) as sandbox:
        data.mkdir()
        engine = make_engine(database_url)
        upgrade_database(engine)
        make_integration(
            engine,
            SecretBox(key),
            base_url=sandbox.base_url,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
        )
        engine.dispose()

        worker = _worker(env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and worker.poll() is None:
                if _runs(database_url) == ["SUCCEEDED"]:
                    break
                time.sleep(0.2)  # polling the store for the run's end, with a deadline
            assert _runs(database_url) == ["SUCCEEDED"], worker.stdout.read() if worker.poll() else ""

            second = subprocess.run(
                [sys.executable, "-m", "lmsbridge.cli", "worker"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == 1
            assert "already runs the background services" in second.stderr
            assert "Traceback" not in second.stderr
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0

    # the lock went with the process: a new worker could take over
    replacement = _worker(env)
    try:
        assert replacement.stdout is not None
        assert "running syncs" in replacement.stdout.readline()
    finally:
        replacement.send_signal(signal.SIGTERM)
        assert replacement.wait(timeout=30) == 0
