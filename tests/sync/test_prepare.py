"""Pages prepared in the helper process (sync/preparer.py) are exactly what the sync's own process would
make; the helper failing, or its caller being cancelled, never loses or mixes up a page; stats pages
merge with stored attempts only where the store holds attempts the page does not."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sync_support import SyncSetup

from lmsbridge.connectors.base import MapContext, Stream
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.connectors.learning360.page_maps import INTEGRATIONS_MEMORY
from lmsbridge.connectors.learning360.streams import COURSES, STATS, USERS
from lmsbridge.store.engine import session_scope
from lmsbridge.store.rows import PreparedRows
from lmsbridge.store.schema import CourseProgression
from lmsbridge.sync.pages import PageContext, write_page
from lmsbridge.sync.prepare import prepare_page
from lmsbridge.sync.preparer import MIN_ITEMS_FOR_HELPER, PagePreparer

INTEGRATION = "360learning:test"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CTX = MapContext(NOW, {})


def _in_place(
    stream: Stream, integration_id: str, items: list[dict[str, Any]]
) -> dict[str, PreparedRows | None]:
    return prepare_page(stream.map_page, integration_id, items, CTX)


def prepare_stats(integration_id: str, items: list[dict[str, Any]]) -> PreparedRows | None:
    return _in_place(STATS, integration_id, items)["course_progressions"]


def _attempt(index: int, user: int, course: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"a{index:05d}",
        "userId": f"u{user:04d}",
        "courseId": f"c{course:03d}",
        "progress": 40,
        "firstActivityAt": f"2026-01-{1 + index % 28:02d}T10:00:00.{index % 1000:03d}Z",
        **fields,
    }


def _stats_items(count: int) -> list[dict[str, Any]]:
    # retakes (several attempts per pair), completions, a repeated attempt id
    items = [
        _attempt(i, i % 37, i % 11, **({"completedAt": "2026-02-03T04:05:06.789Z"} if i % 5 == 0 else {}))
        for i in range(count)
    ]
    return [*items, dict(items[3], progress=90)]


def _users(count: int) -> list[dict[str, Any]]:
    return [
        {"_id": f"u{i:04d}", "mail": f"U{i}@example.com", "firstName": "Ann", "status": "active"}
        for i in range(count)
    ]


def _not_in_place(*args: object) -> None:
    raise AssertionError("prepared in the sync's own process")


async def test_the_helper_prepares_exactly_what_the_sync_process_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    preparer = PagePreparer()
    try:
        stats = _stats_items(MIN_ITEMS_FOR_HELPER * 2)
        assert await preparer.prepare(STATS, INTEGRATION, stats, CTX) == _in_place(STATS, INTEGRATION, stats)
        users = _users(MIN_ITEMS_FOR_HELPER)
        assert await preparer.prepare(USERS, INTEGRATION, users, CTX) == _in_place(USERS, INTEGRATION, users)
        assert preparer._helper is not None  # the answers came from the helper process
        # a stream whose mapping reads the run's memory gets it in the helper too: courses find their
        # provider by platform in the remembered integrations
        memory = {INTEGRATIONS_MEMORY: [{"_id": "i1", "externalPlatform": "Udemy", "name": "Udemy"}]}
        with_memory = MapContext(NOW, memory)
        courses = [
            {
                "_id": f"c{i}",
                "name": "C",
                "status": "published",
                "type": "external",
                "externalPlatform": "Udemy",
            }
            for i in range(MIN_ITEMS_FOR_HELPER)
        ]
        in_place = prepare_page(COURSES.map_page, INTEGRATION, courses, with_memory)
        with monkeypatch.context() as patched:  # nothing is prepared in this process
            patched.setattr("lmsbridge.sync.preparer.prepare_page", _not_in_place)
            prepared = await preparer.prepare(COURSES, INTEGRATION, courses, with_memory)
        assert prepared == in_place
        assert prepared != _in_place(COURSES, INTEGRATION, courses)  # the memory made a difference
    finally:
        await preparer.close()


async def test_a_failing_preparation_raises_in_the_sync_as_it_would_in_place() -> None:
    items = _stats_items(MIN_ITEMS_FOR_HELPER)
    del items[7]["userId"]
    with pytest.raises(KeyError) as in_place:
        prepare_stats(INTEGRATION, items)
    preparer = PagePreparer()
    try:
        with pytest.raises(KeyError) as from_helper:
            await preparer.prepare(STATS, INTEGRATION, items, CTX)
        assert str(from_helper.value) == str(in_place.value) == "'userId'"
        # the helper survives a bad page
        good = _stats_items(MIN_ITEMS_FOR_HELPER)
        assert await preparer.prepare(STATS, INTEGRATION, good, CTX) == _in_place(STATS, INTEGRATION, good)
    finally:
        await preparer.close()


async def test_a_dead_helper_means_pages_are_prepared_in_place(caplog: pytest.LogCaptureFixture) -> None:
    preparer = PagePreparer()
    items = _stats_items(MIN_ITEMS_FOR_HELPER)
    try:
        await preparer.prepare(STATS, INTEGRATION, items, CTX)
        helper = preparer._helper
        assert helper is not None
        helper.kill()
        await helper.wait()
        with caplog.at_level(logging.WARNING, logger="lmsbridge.sync.preparer"):
            assert await preparer.prepare(STATS, INTEGRATION, items, CTX) == _in_place(
                STATS, INTEGRATION, items
            )
        assert "preparing pages in place" in caplog.text
        assert preparer._helper is None and not preparer.use_helper
    finally:
        await preparer.close()


async def test_a_cancelled_preparation_does_not_hand_its_answer_to_the_next_page() -> None:
    preparer = PagePreparer()
    first, second = _stats_items(MIN_ITEMS_FOR_HELPER * 20), _users(MIN_ITEMS_FOR_HELPER)
    try:
        await preparer.prepare(USERS, INTEGRATION, second, CTX)  # the helper is up
        sending = asyncio.Event()
        round_trip = preparer._round_trip

        async def signalling_round_trip(request: bytes) -> bytes:
            sending.set()  # the request is written before this coroutine first waits
            return await round_trip(request)

        preparer._round_trip = signalling_round_trip  # type: ignore[method-assign]
        task = asyncio.create_task(preparer.prepare(STATS, INTEGRATION, first, CTX))
        await sending.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await preparer.prepare(USERS, INTEGRATION, second, CTX) == _in_place(
            USERS, INTEGRATION, second
        )
    finally:
        await preparer.close()


async def test_close_ends_the_helper() -> None:
    preparer = PagePreparer()
    await preparer.prepare(USERS, INTEGRATION, _users(MIN_ITEMS_FOR_HELPER), CTX)
    helper = preparer._helper
    assert helper is not None and helper.returncode is None
    await preparer.close()
    assert helper.returncode == 0 and preparer._helper is None


def test_the_helper_imports_no_database_code() -> None:
    probe = "import sys, lmsbridge.sync.prepare_worker; print('sqlalchemy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ---- stats pages merge with the store only where they must ------------------------------------------


def _write_stats(engine: Engine, integration_id: str, items: list[dict[str, Any]]) -> None:
    ctx = PageContext(integration_id, "run-1", NOW, {})
    with session_scope(engine) as session:
        write_page(session, ctx, STATS, _in_place(STATS, integration_id, items))


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
