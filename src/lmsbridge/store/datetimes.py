"""The one text form datetimes are stored in (SQLite's DATETIME text), for the page preparation
(``store/rows.py``) and the column type (``store/schema.py``) alike. Imports nothing of lmsbridge."""

from __future__ import annotations

from datetime import UTC, datetime


def stored_datetime(value: datetime) -> str:
    """The text a datetime column stores for an aware datetime: ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC
    (SQLite's DATETIME text; PostgreSQL's binding reads it back). ``store/rows.py`` makes it where pages
    are prepared (maybe in the helper process), so the sync's writer binds it as it is
    (benchmarks/README.md)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use aware UTC datetimes")
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat(" ", "microseconds")[:-6]  # without the "+00:00"
