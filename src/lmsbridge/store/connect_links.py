"""Connect links: create one (the token is returned once, only its hash is stored), find a usable one
by token, keep a customer's checked credentials until they confirm, and use a link up exactly once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lmsbridge.ids import random_id
from lmsbridge.store.schema import ConnectLink

# Kombo: embedded links live 1 hour, magic links (sent to a customer by hand) 1 year.
LINK_LIFETIMES = {"EMBEDDED": timedelta(hours=1), "MAGIC_LINK": timedelta(days=365)}

LinkState = Literal["usable", "unknown", "expired", "used"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(
    session: Session,
    *,
    now: datetime,
    link_type: str = "EMBEDDED",
    language: str = "en",
    tool: str | None = None,
    end_user: Mapping[str, Any] | None = None,
    integration_id: str | None = None,
) -> tuple[ConnectLink, str]:
    """A new link and its token (shown once; put it in the URL). ``integration_id`` makes it a relink."""
    token = secrets.token_urlsafe(32)
    link = ConnectLink(
        id=random_id(),
        token_hash=hash_token(token),
        integration_id=integration_id,
        relink=integration_id is not None,
        tool=tool,
        end_user=dict(end_user or {}),
        language=language,
        link_type=link_type,
        created_at=now,
        expires_at=now + LINK_LIFETIMES[link_type],
    )
    session.add(link)
    session.flush()
    return link, token


@dataclass(frozen=True)
class FoundLink:
    state: LinkState
    link: ConnectLink | None


def find_link(session: Session, token: str, now: datetime) -> FoundLink:
    """The link of ``token`` and whether it can still be used."""
    if not token or len(token) > 200:
        return FoundLink("unknown", None)
    link = session.scalar(select(ConnectLink).where(ConnectLink.token_hash == hash_token(token)))
    if link is None:
        return FoundLink("unknown", None)
    if link.used_at is not None:
        return FoundLink("used", link)
    if link.expires_at <= now:
        return FoundLink("expired", link)
    return FoundLink("usable", link)


def save_pending(
    session: Session, link_id: str, encrypted: str | None, scope_test: Mapping[str, Any] | None
) -> None:
    """Keep (or with None, forget) the checked credentials awaiting the customer's confirmation."""
    session.execute(
        update(ConnectLink)
        .where(ConnectLink.id == link_id)
        .values(pending_encrypted=encrypted, pending_scope_test=dict(scope_test) if scope_test else None)
    )


def use_link(session: Session, link_id: str, integration_id: str, now: datetime) -> bool:
    """Mark the link used by ``integration_id``; False when another request used it first (the
    conditional UPDATE makes a link single-use even under concurrent confirms)."""
    result = session.execute(
        update(ConnectLink)
        .where(ConnectLink.id == link_id, ConnectLink.used_at.is_(None))
        .values(used_at=now, integration_id=integration_id, pending_encrypted=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
