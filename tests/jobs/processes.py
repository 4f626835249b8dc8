"""What the scale-out tests share: a migrated PostgreSQL store with the job tables, and real `lmsbridge`
processes (workers, API servers) started against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lmsbridge.settings import Settings


def lmsbridge_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMSBRIDGE_")}
    env.update(
        LMSBRIDGE_DATABASE_URL=settings.resolved_database_url,
        LMSBRIDGE_ENCRYPTION_KEY=str(settings.encryption_key),
        LMSBRIDGE_DATA_DIR=str(settings.data_dir),
        LMSBRIDGE_JOB_POLL_SECONDS=str(settings.job_poll_seconds),
        LMSBRIDGE_WORKER_STALLED_SECONDS=str(settings.worker_stalled_seconds),
        LMSBRIDGE_ALLOW_PRIVATE_HOSTS="true",  # the sandboxes listen on loopback
    )
    return env


@contextmanager
def workers(settings: Settings, count: int, log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    with processes(settings, log_dir, *[["worker", "--concurrency", "4"]] * count) as started:
        yield started


@contextmanager
def processes(
    settings: Settings, log_dir: Path, *commands: list[str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`lmsbridge <command>` processes against the store; SIGTERM (then SIGKILL) when done."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n, command in enumerate(commands):
            log = (log_dir / f"{command[0]}-{len(list(log_dir.glob('*.log')))}-{n}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "lmsbridge.cli", *command],
                    env=lmsbridge_env(settings),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
