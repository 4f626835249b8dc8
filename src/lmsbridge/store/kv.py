"""Installation-wide values (the ``kv`` table), e.g. the environment id that check-api-key returns."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.store.schema import KeyValue

ENVIRONMENT_ID = "environment_id"


def get_value(session: Session, key: str) -> str | None:
    return session.scalar(select(KeyValue.value).where(KeyValue.key == key))


def get_or_create(session: Session, key: str, value: str) -> str:
    """The stored value of ``key``; stores ``value`` first if there is none (first writer wins)."""
    session.execute(
        _insert(session).values(key=key, value=value).on_conflict_do_nothing(index_elements=["key"])
    )
    stored = get_value(session, key)
    assert stored is not None  # just inserted or already there
    return stored


def environment_id(session: Session) -> str:
    """This installation's environment id: generated once, then stable."""
    return get_or_create(session, ENVIRONMENT_ID, random_id())


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(KeyValue)
