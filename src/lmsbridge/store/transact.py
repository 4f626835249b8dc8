"""Run a function in one database transaction, from sync code or off the event loop in async code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.store.engine import session_scope

T = TypeVar("T")


def transact(db: Engine, work: Callable[[Session], T]) -> T:
    with session_scope(db) as session:
        return work(session)


async def transact_async(db: Engine, work: Callable[[Session], T]) -> T:
    """The database driver blocks, so the transaction runs in a worker thread."""
    return await asyncio.to_thread(transact, db, work)
