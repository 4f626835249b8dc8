"""The long-lived parts of one lmsbridge process, built once from settings and shared by the API app and
the CLI: database engine, secret box, sync engine, job runner, action worker and webhook deliverer."""

from __future__ import annotations

import contextlib
import fcntl
from datetime import timedelta
from typing import IO

from sqlalchemy import Engine

from lmsbridge.actions.worker import ActionWorker
from lmsbridge.crypto import SecretBox
from lmsbridge.features.sync_hooks import feature_hooks
from lmsbridge.jobs.local import LocalJobRunner
from lmsbridge.settings import Settings
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from lmsbridge.webhooks.delivery import WebhookDeliverer

# Held open for the life of the process that won it: the OS releases the lock when that process ends.
_background_lock: IO[bytes] | None = None


def claim_background_services(settings: Settings) -> bool:
    """True in exactly one of several API worker processes sharing ``settings.data_dir``: that one runs
    the background services. A worker that replaces a dead winner claims them again."""
    global _background_lock
    if _background_lock is not None:
        return True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = (settings.data_dir / "background.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _background_lock = handle
    return True


class Runtime:
    """``start()`` launches the background services (syncs on schedule, action tasks, webhook
    deliveries) on the running event loop; ``stop()`` ends them. A stopped process loses nothing: runs,
    tasks and deliveries are rows that the next start resumes."""

    def __init__(self, settings: Settings, db: Engine, *, schedule: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.box = SecretBox.from_settings(settings)
        self.sync_engine = SyncEngine(
            db,
            self.box,
            options=SyncOptions(
                reads_per_second=settings.remote_reads_per_second,
                writes_per_second=settings.remote_writes_per_second,
                public_base_url=settings.public_base_url,
                # scope test before every sync, per-model tests (QA) after every FULL sync
                **feature_hooks(settings),
            ),
        )
        self.jobs = LocalJobRunner(
            db,
            self.sync_engine,
            full_interval=timedelta(hours=settings.full_sync_interval_hours),
            delta_interval=timedelta(hours=settings.delta_sync_interval_hours),
            schedule=schedule,
        )
        self.actions = ActionWorker(db, self.box, settings)
        self.webhooks = WebhookDeliverer(db, self.box, settings)
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        await self.webhooks.start()
        await self.actions.start()
        await self.jobs.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        # each service stops even if another one fails to
        for service in (self.jobs, self.actions, self.webhooks):
            with contextlib.suppress(Exception):
                await service.stop()
        self._started = False
