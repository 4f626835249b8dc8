"""The sync engine's write path: page writes grouped into fewer transactions (group commit).

A COMMIT is the largest single cost of ingesting a page on SQLite (every touched B-tree page goes to the
WAL), so consecutive page writes share one open transaction that commits once enough records gathered or
a short time passed. Each run's checkpoint is written in the transaction that commits its pages, so a
crash loses only pages whose checkpoint was not committed either: the resumed run fetches them again.
A failing page rolls back the pages its own run has in the group (the run fails with it, as it did);
while other runs have pages in the group too, each page is a SAVEPOINT so that it rolls back alone
(savepoints are not the default: SQLite copies every page they touch, +35 % write cost).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
Checkpoint = Callable[[Session], None]


@dataclass(frozen=True, slots=True)
class CommitPolicy:
    """When an open group of page writes commits: whichever limit is reached first. The time limit also
    bounds how long other writers (actions, a second sync) wait for SQLite's write lock."""

    max_records: int = 10_000
    max_seconds: float = 1.0


class GroupLost(RuntimeError):
    """Pages a run wrote were rolled back with their group (a failed COMMIT): the run must not go on as if
    they were stored."""


class GroupedWriter:
    """Runs database work in a worker thread, one piece at a time, on one long-lived session.

    ``write`` (a page) leaves its transaction open for the next pages; ``run`` (anything else: plans,
    heartbeats, the run's end) commits what is pending first and then runs in its own transaction.
    """

    def __init__(self, db: Engine, policy: CommitPolicy) -> None:
        self._db = db
        self.policy = policy
        self._lock = asyncio.Lock()
        self._session: Session | None = None
        self._records = 0
        self._opened_at = 0.0
        # per run with uncommitted pages: how to write its checkpoint into the committing transaction
        self._pending: dict[str, Checkpoint] = {}
        self._lost: dict[str, BaseException] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def run(self, work: Callable[[Session], T], *, owner: str | None = None) -> T:
        """``work`` in a transaction of its own, committed before returning (pending pages first).
        With ``owner``, fails if that run's pages were lost."""
        async with self._lock:
            self._raise_if_lost(owner)
            return await _until_done(self._run_now, work)

    async def write(
        self,
        owner: str,
        work: Callable[[Session], T],
        *,
        records: int,
        checkpoint: Checkpoint,
        commit: Callable[[], bool] = lambda: False,
    ) -> T:
        """One page of ``owner``'s run: ``work`` joins the open group, which commits (with every pending
        run's checkpoint) when the policy says so or ``commit()``, asked after the work, is true."""
        async with self._lock:
            self._raise_if_lost(owner)
            result = await _until_done(self._write_now, owner, work, records, checkpoint, commit)
        if self._pending:
            self._arm_timer()
        return result

    async def close(self) -> None:
        """Commit what is pending and release the connection."""
        async with self._lock:
            await _until_done(self._close_now)

    # ---- in the worker thread ---------------------------------------------------------------------

    def _session_now(self) -> Session:
        if self._session is None:
            # writer transactions begin IMMEDIATE on SQLite (the engine's "begin" hook)
            self._session = Session(bind=self._db, expire_on_commit=False)
        return self._session

    def _run_now(self, work: Callable[[Session], T]) -> T:
        self._commit_pending()
        session = self._session_now()
        try:
            result = work(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return result

    def _write_now(
        self,
        owner: str,
        work: Callable[[Session], T],
        records: int,
        checkpoint: Checkpoint,
        commit: Callable[[], bool],
    ) -> T:
        session = self._session_now()
        if not self._pending:
            self._opened_at = time.monotonic()
        shared = any(other != owner for other in self._pending)
        try:
            if shared:
                with session.begin_nested():
                    result = work(session)
            else:
                result = work(session)
        except BaseException as exc:
            if not (shared and _group_survived(session)):
                session.rollback()
                self._forget_pending(exc)
            raise
        self._pending[owner] = checkpoint
        self._records += records
        if commit() or self._due():
            self._commit_pending()
        return result

    def _due(self) -> bool:
        return (
            self._records >= self.policy.max_records
            or time.monotonic() - self._opened_at >= self.policy.max_seconds
        )

    def _commit_pending(self) -> None:
        if not self._pending:
            return
        session = self._session_now()
        try:
            for checkpoint in self._pending.values():
                checkpoint(session)
            session.commit()
        except BaseException as exc:
            session.rollback()
            self._forget_pending(exc)
            raise
        self._pending.clear()
        self._records = 0

    def _forget_pending(self, cause: BaseException) -> None:
        for owner in self._pending:
            self._lost[owner] = GroupLost(f"uncommitted pages of run {owner} were rolled back: {cause}")
        self._pending.clear()
        self._records = 0

    def _close_now(self) -> None:
        if self._session is None:
            return
        try:
            self._commit_pending()
        finally:
            self._session.close()
            self._session = None

    # ---- on the event loop --------------------------------------------------------------------------

    def _raise_if_lost(self, owner: str | None) -> None:
        if owner is not None and owner in self._lost:
            raise self._lost[owner]

    def _arm_timer(self) -> None:
        """A group must not stay open because no next page comes (a slow chain, the last pages)."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.policy.max_seconds, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_due())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush_due(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            if not self._due():  # committed and reopened since the timer was set
                self._arm_timer()
                return
            try:
                await _until_done(self._commit_pending)
            except Exception:  # recorded for the runs whose pages were lost: they raise on their next call
                log.exception("a group commit of sync pages failed")


async def _until_done(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work`` in a worker thread, holding the caller (and so the writer's lock) until the thread ends,
    even when the caller is cancelled: a thread cannot be stopped, and releasing the lock early would let
    the next piece of work use the one session while this thread still does."""
    thread = asyncio.ensure_future(asyncio.to_thread(work, *args, **kwargs))
    try:
        return await asyncio.shield(thread)
    except asyncio.CancelledError:
        await asyncio.wait([thread])
        raise


def _group_survived(session: Session) -> bool:
    """After a failed page: is the group's transaction still open? SQLite rolls a whole transaction back
    on some errors (disk full, I/O) without SQLAlchemy noticing, hence the driver's own flag."""
    try:
        if not (session.in_transaction() and session.is_active):
            return False
        driver = session.connection().connection.driver_connection
        return bool(getattr(driver, "in_transaction", True))
    except Exception:
        return False
