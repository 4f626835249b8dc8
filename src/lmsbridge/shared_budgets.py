"""Rate budgets shared through PostgreSQL: every process and machine of a deployment reserves an
LMS company's calls from one row, so together they keep the company's limit.

Why PostgreSQL and not Redis: the database is the one service every lmsbridge process already shares;
a reservation is one UPDATE on one row (a few hundred microseconds on loopback, ~50 a second per busy
company), and the algorithm is the same as in the process (``connectors.budget.next_slot``).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, create_engine, text

from lmsbridge.connectors.budget import MAX_SLOWDOWN, RECOVERY_PER_CALL, SLOWDOWN_FACTOR

# One GCRA reservation, atomic: the row is locked for the statement only. ``o`` is the row before the
# update, so the answer is the wait for the slot just booked (database clock, seconds).
_RESERVE = text(
    """
    UPDATE rate_budgets AS b
       SET tat = GREATEST(o.tat, n.t - :burst) + :interval * o.slowdown,
           slowdown = GREATEST(1.0, o.slowdown * :recovery)
      FROM (SELECT tat, slowdown FROM rate_budgets WHERE key = :key FOR UPDATE) AS o,
           (SELECT extract(epoch FROM clock_timestamp())::float8 AS t) AS n
     WHERE b.key = :key
    RETURNING GREATEST(o.tat, n.t - :burst) - n.t
    """
)
_CREATE = text("INSERT INTO rate_budgets (key, tat, slowdown) VALUES (:key, 0, 1.0) ON CONFLICT DO NOTHING")
_SLOW_DOWN = text("UPDATE rate_budgets SET slowdown = LEAST(:most, slowdown * :factor) WHERE key = :key")


class PostgresRateSchedule:
    """A ``RateSchedule`` kept in the ``rate_budgets`` table. It has its own small connection pool, so
    reservations never wait behind a sync's page writes."""

    def __init__(self, database_url: str) -> None:
        self._engine: Engine = create_engine(database_url, pool_size=2, max_overflow=8, pool_pre_ping=True)

    def _reserve(self, key: str, interval: float, burst: float) -> float:
        params = {"key": key, "interval": interval, "burst": burst, "recovery": RECOVERY_PER_CALL}
        with self._engine.begin() as conn:
            wait = conn.execute(_RESERVE, params).scalar()
            if wait is None:  # the company's first call: create its row, then reserve
                conn.execute(_CREATE, {"key": key})
                wait = conn.execute(_RESERVE, params).scalar()
        return max(0.0, float(wait or 0.0))

    def _slow_down(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(_SLOW_DOWN, {"key": key, "most": MAX_SLOWDOWN, "factor": SLOWDOWN_FACTOR})

    async def reserve(self, key: str, interval: float, burst: float) -> float:
        return await asyncio.to_thread(self._reserve, key, interval, burst)

    async def slow_down(self, key: str) -> None:
        await asyncio.to_thread(self._slow_down, key)

    def close(self) -> None:
        self._engine.dispose()
