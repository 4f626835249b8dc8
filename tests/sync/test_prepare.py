"""Page preparation (sync/prepare.py) needs no database code; stats pages merge with stored attempts only
where the store holds attempts the page does not."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sync_support import SyncSetup

from lmsbridge.connectors.learning360 import mapping
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import CourseProgression
from lmsbridge.sync.pages import PageContext, stats_page


def _attempt(index: int, user: int, course: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"a{index:05d}",
        "userId": f"u{user:04d}",
        "courseId": f"c{course:03d}",
        "progress": 40,
        "firstActivityAt": f"2026-01-{1 + index % 28:02d}T10:00:00.{index % 1000:03d}Z",
        **fields,
    }


def test_preparation_imports_no_database_code() -> None:
    probe = "import sys, lmsbridge.sync.prepare; print('sqlalchemy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ---- stats pages merge with the store only where they must ------------------------------------------


def _write_stats(engine: Engine, integration_id: str, items: list[dict[str, Any]]) -> None:
    ctx = PageContext(integration_id, "run-1", datetime(2026, 3, 1, tzinfo=UTC), mapping.ProviderIndex())
    with session_scope(engine) as session:
        stats_page(session, ctx, items)


def _stored_attempts(engine: Engine, integration_id: str) -> dict[str, list[tuple[str, int]]]:
    with session_scope(engine, readonly=True) as session:
        rows = session.execute(
            select(CourseProgression.remote_id, CourseProgression.remote_data).where(
                CourseProgression.integration_id == integration_id
            )
        )
        return {
            remote_id: [(a["_id"], a["progress"]) for a in data[mapping.STATS_KEY]]
            for remote_id, data in rows
        }


def test_a_pair_across_pages_keeps_every_attempt(setup: SyncSetup) -> None:
    engine, integration_id = setup.db, setup.integration_id
    pair = "u0001:c001"
    _write_stats(engine, integration_id, [_attempt(1, 1, 1), _attempt(2, 2, 2)])
    _write_stats(engine, integration_id, [_attempt(3, 1, 1, progress=70)])  # stored a00001 is not here
    assert _stored_attempts(engine, integration_id)[pair] == [("a00001", 40), ("a00003", 70)]
    # a page with both attempts is the whole pair: its values win
    _write_stats(engine, integration_id, [_attempt(1, 1, 1, progress=50), _attempt(3, 1, 1, progress=80)])
    stored = _stored_attempts(engine, integration_id)
    assert stored[pair] == [("a00001", 50), ("a00003", 80)]
    assert stored["u0002:c002"] == [("a00002", 40)]
