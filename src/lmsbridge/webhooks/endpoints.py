"""Webhook endpoints repository: create, list, get, delete, rotate secret; secrets stored only encrypted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id
from lmsbridge.netguard import BlockedHost, check_url
from lmsbridge.settings import get_settings
from lmsbridge.store.schema import WebhookDelivery, WebhookEndpoint
from lmsbridge.webhooks.payloads import EVENT_TYPES
from lmsbridge.webhooks.signing import new_secret

MAX_URL_LENGTH = 2048


class InvalidEndpoint(ValueError):
    """The URL or the event filter of an endpoint is not acceptable (message is safe to show)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def validate_url(url: str, *, allow_private: bool | None = None) -> str:
    """``url`` stripped; ``InvalidEndpoint`` unless it is an absolute http(s) URL of a public host
    (``allow_private``, default ``LMSBRIDGE_ALLOW_PRIVATE_HOSTS``, lets loopback and private hosts in)."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidEndpoint(f"the URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpoint("the URL must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        # credentials in the URL would end up in logs and listings; the signature authenticates us
        raise InvalidEndpoint("the URL must not contain a user name or password")
    allowed = get_settings().allow_private_hosts if allow_private is None else allow_private
    try:
        check_url(url, allow_private=allowed)
    except BlockedHost as exc:
        raise InvalidEndpoint(str(exc)) from None
    return url


def validate_event_types(event_types: Iterable[str] | None) -> list[str] | None:
    """None (or an empty filter) = every event type; otherwise a sorted list of known types."""
    if event_types is None:
        return None
    chosen = sorted(set(event_types))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidEndpoint(f"unknown event types {unknown}; expected some of {list(EVENT_TYPES)}")
    return chosen or None


def create_endpoint(
    session: Session,
    box: SecretBox,
    url: str,
    event_types: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
    allow_private: bool | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its plaintext secret (the only time it is available; only its ciphertext is
    stored). Raises ``InvalidEndpoint`` (see ``validate_url`` for ``allow_private``)."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=random_id(),
        url=validate_url(url, allow_private=allow_private),
        secret_encrypted=box.encrypt(secret),
        event_types=validate_event_types(event_types),
        created_at=now or _utcnow(),
        disabled_at=None,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(
        session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))
    )


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def rotate_secret(session: Session, box: SecretBox, endpoint_id: str) -> tuple[WebhookEndpoint, str] | None:
    """Replace the secret; deliveries sent from now on (retries included) are signed with the new one."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return None
    secret = new_secret()
    endpoint.secret_encrypted = box.encrypt(secret)
    session.flush()
    return endpoint, secret


def delete_endpoint(session: Session, endpoint_id: str) -> bool:
    """Remove the endpoint and its deliveries (pending ones are dropped); False when it did not exist."""
    if session.get(WebhookEndpoint, endpoint_id) is None:
        return False
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    session.expire_all()
    return True


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether an enabled endpoint receives events of this type."""
    if endpoint.disabled_at is not None:
        return False
    return endpoint.event_types is None or event_type in endpoint.event_types
