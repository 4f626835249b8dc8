"""Runs one queued sync run in a process of its own, for the crash tests to kill with SIGKILL.

Usage: python crash_worker.py DB_URL FERNET_KEY RUN_ID MARKER [PAUSE_AT_PAGE]
With PAUSE_AT_PAGE the worker stops inside the transaction of that page (after the upsert, before the
commit), writes MARKER and waits to be killed: a kill in the middle of a transaction.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.sync import pages
from lmsbridge.sync.engine import SyncEngine, SyncOptions


def main() -> None:
    url, key, run_id, marker = sys.argv[1:5]
    pause_at = int(sys.argv[5]) if len(sys.argv) > 5 else None
    if pause_at is not None:
        original = pages.write_rows
        calls = {"n": 0}

        def pausing_write(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == pause_at:
                Path(marker).write_text("in transaction")
                threading.Event().wait()  # blocks this worker thread until the process is killed
            return result

        pages.write_rows = pausing_write  # type: ignore[assignment]
    engine = SyncEngine(
        make_engine(url),
        SecretBox(key.encode()),
        options=SyncOptions(connector_options={"ids_per_partition": 7}),
    )
    asyncio.run(engine.execute(run_id))


if __name__ == "__main__":
    main()
