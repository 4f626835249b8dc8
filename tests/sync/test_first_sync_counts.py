"""The first FULL sync on an empty store reports what it created, and nothing as "changed": a
progression whose attempts span stats pages is rewritten within the run but counted once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sync_support import SyncSetup

from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import CourseProgression, SyncRun
from sandbox_truth import fetch_all


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    # ~30 attempts per (user, course) pair over 500-attempt stats pages: most pairs span pages
    with running_sandbox(seed=5, users=20, courses=5, attempts=3000, integrations=1) as sb:
        yield sb


async def test_first_full_sync_changes_nothing_it_created(setup: SyncSetup) -> None:
    attempts = fetch_all(setup.sandbox, "/api/v2/courses/stats")
    pairs = {(a["userId"], a["courseId"]) for a in attempts}
    assert len(attempts) > 2 * 500 and len(pairs) < len(attempts) / 5  # the shape this test needs

    outcome = await setup.engine.run_new(setup.integration_id, "FULL")
    assert outcome.state == "SUCCEEDED", outcome.error
    with session_scope(setup.db, readonly=True) as session:
        counts = session.get(SyncRun, outcome.run_id).streams["counts"]  # type: ignore[union-attr]
        stored = session.scalar(
            select(func.count())
            .select_from(CourseProgression)
            .where(CourseProgression.integration_id == setup.integration_id)
        )
    assert {model: c["changed"] for model, c in counts.items()} == dict.fromkeys(counts, 0), counts
    assert counts["course_progressions"]["created"] == stored == len(pairs)
    assert "course_progressions" in outcome.changed_models
