"""The sync engine's two feature hooks: a scope test before every scan (streams whose scope is missing
are skipped with a warning naming it) and the per-model tests after every FULL run.

Pass them to the engine: ``SyncOptions(before_scan=scope_test_before_sync,
after_full=model_tests_after_full_sync)`` (``feature_hooks()`` gives both).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from lmsbridge.connectors.base import Connector
from lmsbridge.features.model_tests import ModelTestsResult, run_model_tests
from lmsbridge.features.scope_test import run_scope_test, store_scope_test
from lmsbridge.settings import Settings
from lmsbridge.store.transact import transact_async

log = logging.getLogger(__name__)

# runs in these states leave a store worth testing (a FAILED run read nothing usable)
TESTED_RUN_STATES = frozenset({"SUCCEEDED", "PARTIALLY_FAILED"})


def skip_warning(scope: str, stream: str) -> str:
    """The sync warning of a skipped stream (the engine's own wording for a PermissionMissing)."""
    return f"missing scope {scope!r}: {stream} skipped"


async def scope_test_before_sync(
    db: Engine, integration_id: str, connector: Connector, now: datetime
) -> dict[str, str]:
    """Run and store the scope test; the streams to skip (stream name → warning naming the scope).

    Never fails the sync: a probe that cannot tell is ``unknown`` (the stream is tried), and an
    unexpected error is logged and treated as "nothing known to be missing".
    """
    try:
        result = await run_scope_test(connector, now)
        await transact_async(db, lambda s: store_scope_test(s, integration_id, result, now))
    except Exception:
        log.exception("scope test before the sync of %s failed; syncing every stream", integration_id)
        return {}
    missing = set(result.missing)
    return {
        stream.name: skip_warning(stream.scope, stream.name)
        for stream in connector.streams
        if stream.scope is not None and stream.scope in missing
    }


async def model_tests_after_full_sync(
    db: Engine, integration_id: str, run_state: str, now: datetime, *, settings: Settings | None = None
) -> ModelTestsResult | None:
    """Test every model against what the FULL run stored (no live calls) and set the QA status;
    ``settings`` give the sync schedule the freshness check allows."""
    if run_state not in TESTED_RUN_STATES:
        return None
    try:
        return await run_model_tests(db, integration_id, None, now, settings=settings)
    except Exception:
        log.exception("model tests after the full sync of %s failed", integration_id)
        return None


def feature_hooks(settings: Settings | None = None) -> dict[str, Any]:
    """``SyncOptions`` keyword arguments wiring both hooks (``settings``: the sync schedule)."""
    return {
        "before_scan": scope_test_before_sync,
        "after_full": partial(model_tests_after_full_sync, settings=settings),
    }
