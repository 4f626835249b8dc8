"""API keys: created once in plaintext for the user, stored only as a hash; verified, listed, revoked."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from lmsbridge.crypto import hash_api_key
from lmsbridge.ids import random_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import ApiKey

KEY_PREFIX = "lmsb_"
# characters of the key kept in clear for listings ("lmsb_" + 7 random characters)
SHOWN_PREFIX_LENGTH = 12
# last_used_at is refreshed at most this often: a write per request would serialise reads on SQLite
TOUCH_INTERVAL = timedelta(minutes=1)


def create_api_key(session: Session, name: str, now: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key: returns the row and the plaintext key, which is never retrievable again."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=random_id(),
        name=name,
        key_hash=hash_api_key(plaintext),
        prefix=plaintext[:SHOWN_PREFIX_LENGTH],
        created_at=now or datetime.now(UTC),
        revoked_at=None,
        last_used_at=None,
    )
    session.add(key)
    session.flush()
    return key, plaintext


def verify_api_key(session: Session, plaintext: str, now: datetime | None = None) -> ApiKey | None:
    """The active key matching ``plaintext`` (None if unknown or revoked); refreshes last_used_at.

    May write (last_used_at), so call it in a write session, not a ``readonly=True`` one.
    """
    if not plaintext or len(plaintext) > 512:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext)))
    if key is None or key.revoked_at is not None:
        return None
    now = now or datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        key.last_used_at = now
        session.flush()
    return key


def authenticate(engine: Engine, plaintext: str, now: datetime | None = None) -> ApiKey | None:
    """``verify_api_key`` for request handling: the lookup is a read-only transaction, and only a due
    last_used_at refresh (at most once a minute per key) takes a short write transaction. On SQLite this
    keeps authentication from queueing every request behind a sync's write lock."""
    if not plaintext or len(plaintext) > 512:
        return None
    with session_scope(engine, readonly=True) as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext)))
    if key is None or key.revoked_at is not None:
        return None
    now = now or datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        with session_scope(engine) as session:
            session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        key.last_used_at = now
    return key


def list_api_keys(session: Session, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def revoke_api_key(session: Session, key_id: str, now: datetime | None = None) -> ApiKey | None:
    """Revoke by id (idempotent: the first revocation time is kept); None when no such key exists."""
    key = session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = now or datetime.now(UTC)
        session.flush()
    return key
