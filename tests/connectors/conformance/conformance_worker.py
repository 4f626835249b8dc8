"""A sync worker process for the killed-run test: ``python conformance_worker.py DB_URL KEY RUN_ID
OPTIONS_JSON [REGISTER]`` executes the queued run (``REGISTER``, "module:function", names a connector
the registry does not ship) until the test kills it."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys

from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine
from lmsbridge.sync.engine import SyncEngine, SyncOptions


def main() -> None:
    url, key, run_id, options = sys.argv[1:5]
    if len(sys.argv) > 5:
        module, function = sys.argv[5].split(":")
        getattr(importlib.import_module(module), function)()
    engine = SyncEngine(
        make_engine(url), SecretBox(key.encode()), options=SyncOptions(connector_options=json.loads(options))
    )
    asyncio.run(engine.execute(run_id))


if __name__ == "__main__":
    main()
