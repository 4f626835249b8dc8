"""Group commit of page writes (sync/writer.py): pages share a transaction that commits with each run's
checkpoint, a failing page rolls back alone, other work commits what is pending first."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.store.schema import KeyValue
from lmsbridge.sync.writer import CommitPolicy, GroupedWriter, GroupLost

# no limit reached by these tests unless they ask for it
PATIENT = CommitPolicy(max_records=1_000, max_seconds=3_600)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def stored(db: Engine) -> dict[str, str]:
    with session_scope(db, readonly=True) as session:
        return {row.key: row.value for row in session.scalars(select(KeyValue))}


Work = Callable[[Session], None]


def put(key: str, value: str = "page") -> Work:
    def work(session: Session) -> None:
        session.execute(insert(KeyValue).values(key=key, value=value))

    return work


def checkpoint(key: str) -> Work:
    def save(session: Session) -> None:
        session.execute(delete(KeyValue).where(KeyValue.key == key))
        put(key, "checkpoint")(session)

    return save


def fail_after_writing(session: Session) -> None:
    put("lost")(session)
    raise ZeroDivisionError


async def test_pages_commit_together_with_the_checkpoint(db: Engine) -> None:
    writer = GroupedWriter(db, CommitPolicy(max_records=30, max_seconds=3_600))
    await writer.write("run", put("p1"), records=10, checkpoint=checkpoint("cp"))
    await writer.write("run", put("p2"), records=10, checkpoint=checkpoint("cp"))
    assert stored(db) == {}  # still one open transaction
    await writer.write("run", put("p3"), records=10, checkpoint=checkpoint("cp"))
    assert stored(db) == {"p1": "page", "p2": "page", "p3": "page", "cp": "checkpoint"}
    await writer.close()


async def test_commit_asked_by_the_page(db: Engine) -> None:
    writer = GroupedWriter(db, PATIENT)
    await writer.write("run", put("p1"), records=1, checkpoint=checkpoint("cp"), commit=lambda: True)
    assert stored(db) == {"p1": "page", "cp": "checkpoint"}
    await writer.close()


async def test_a_failing_page_rolls_back_its_runs_group(db: Engine) -> None:
    writer = GroupedWriter(db, PATIENT)
    await writer.write("run", put("p1"), records=1, checkpoint=checkpoint("cp"))
    with pytest.raises(IntegrityError):
        await writer.write("run", put("p1", "again"), records=1, checkpoint=checkpoint("cp"))
    # the run's earlier page went with it: the run must not go on as if it were stored
    with pytest.raises(GroupLost):
        await writer.write("run", put("p2"), records=1, checkpoint=checkpoint("cp"))
    with pytest.raises(GroupLost):
        await writer.run(lambda session: None, owner="run")
    await writer.write("other", put("p3"), records=1, checkpoint=checkpoint("cp-other"), commit=lambda: True)
    assert stored(db) == {"p3": "page", "cp-other": "checkpoint"}
    await writer.close()


async def test_a_failing_page_spares_other_runs_pages(db: Engine) -> None:
    writer = GroupedWriter(db, PATIENT)
    await writer.write("a", put("a1"), records=1, checkpoint=checkpoint("cp-a"))
    await writer.write("b", put("b1"), records=1, checkpoint=checkpoint("cp-b"))
    with pytest.raises(IntegrityError):
        await writer.write("b", put("a1", "again"), records=1, checkpoint=checkpoint("cp-b"))
    await writer.write("a", put("a2"), records=1, checkpoint=checkpoint("cp-a"), commit=lambda: True)
    # run a's pages and both checkpoints committed; only b's failing page rolled back (a savepoint)
    pages = {"a1": "page", "a2": "page", "b1": "page"}
    assert stored(db) == {**pages, "cp-a": "checkpoint", "cp-b": "checkpoint"}
    await writer.close()


async def test_other_work_commits_pending_pages_first(db: Engine) -> None:
    writer = GroupedWriter(db, PATIENT)
    await writer.write("a", put("p1"), records=1, checkpoint=checkpoint("cp-a"))
    await writer.write("b", put("p2"), records=1, checkpoint=checkpoint("cp-b"))
    with pytest.raises(ZeroDivisionError):
        await writer.run(fail_after_writing)
    # the pages and both runs' checkpoints committed before the failing work, which rolled back alone
    assert stored(db) == {"p1": "page", "p2": "page", "cp-a": "checkpoint", "cp-b": "checkpoint"}
    await writer.close()


async def test_an_idle_group_commits_after_the_time_limit(db: Engine) -> None:
    writer = GroupedWriter(db, CommitPolicy(max_records=1_000, max_seconds=0.05))
    saved = asyncio.Event()
    loop = asyncio.get_running_loop()

    def save(session: Session) -> None:
        checkpoint("cp")(session)
        loop.call_soon_threadsafe(saved.set)  # called in the writer's worker thread

    await writer.write("run", put("p1"), records=1, checkpoint=save)
    await asyncio.wait_for(saved.wait(), timeout=10)
    await writer.run(lambda session: None)  # waits for the timer's commit to finish
    assert stored(db) == {"p1": "page", "cp": "checkpoint"}
    await writer.close()


async def test_close_commits_what_is_pending(db: Engine) -> None:
    writer = GroupedWriter(db, PATIENT)
    await writer.write("run", put("p1"), records=1, checkpoint=checkpoint("cp"))
    await writer.close()
    assert stored(db) == {"p1": "page", "cp": "checkpoint"}


async def test_a_cancelled_call_holds_the_session_until_its_thread_ends(db: Engine) -> None:
    # a thread cannot be stopped: if cancelling its caller released the writer, the next call would use
    # the one session while the thread still does ("This transaction is closed")
    writer = GroupedWriter(db, PATIENT)
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def blocked(session: Session) -> None:
        started.set()
        release.wait(timeout=60)
        put("blocked")(session)
        order.append("blocked")

    def following(session: Session) -> None:
        put("following")(session)
        order.append("following")

    first = asyncio.create_task(writer.run(blocked))
    assert await asyncio.to_thread(started.wait, 60)
    first.cancel()
    second = asyncio.create_task(writer.run(following))
    done, _ = await asyncio.wait([first, second], timeout=0.5)  # bounded check that nothing ran yet
    assert done == set() and order == []
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["blocked", "following"]
    assert stored(db) == {"blocked": "page", "following": "page"}
    await writer.close()
