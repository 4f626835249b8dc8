"""Receiving one webhook delivery: find the integration by the path's token, verify the Standard Webhooks
signature with the secrets of its subscriptions (the legacy one too during a rotation), store the event
once. No work is done here: a job applies the event (``sync/incoming.py``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from lmsbridge.crypto import SecretBox
from lmsbridge.incoming import store

log = logging.getLogger(__name__)
MAX_WEBHOOK_ID = 128


class Refused(Exception):
    """The delivery is not accepted: ``status`` is the answer (404 unknown endpoint, 401 unverified,
    400 unusable body). The message never holds the token or a secret."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Accepted:
    integration_id: str
    webhook_id: str
    event_type: str
    new: bool  # False: a redelivery of a stored event (acknowledged, applied once)


def verified_body(secrets: list[str], body: bytes, headers: Mapping[str, str]) -> Any:
    """The decoded body if one secret verifies the signature (and the timestamp is within 5 minutes)."""
    reason = "no signing secret is known for this endpoint"
    for secret in secrets:
        try:
            return Webhook(secret).verify(body, dict(headers))
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:  # malformed headers or body
            reason = f"malformed delivery: {type(exc).__name__}"
    raise Refused(401, f"signature not verified: {reason}")


def receive(
    session: Session, box: SecretBox, token: str, body: bytes, headers: Mapping[str, str], now: datetime
) -> Accepted:
    """Verify and store one delivery in the caller's transaction; ``Refused`` stores nothing."""
    integration_id = store.integration_of_token(session, token)
    if integration_id is None:
        log.warning("incoming webhook refused: no integration receives webhooks at this address")
        raise Refused(404, "no integration receives webhooks at this address")
    secrets = [key for sub in store.signing_secrets(session, box, integration_id, now) for key in sub.secrets]
    try:
        payload = verified_body(secrets, body, headers)
    except Refused as exc:
        log.warning("incoming webhook refused for %s: %s", integration_id, exc.message)
        raise
    except json.JSONDecodeError:
        log.warning("incoming webhook refused for %s: the body is not JSON", integration_id)
        raise Refused(400, "the body is not JSON") from None
    webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
    event_type = payload.get("type") if isinstance(payload, dict) else None
    if not isinstance(event_type, str) or not event_type or len(webhook_id) > MAX_WEBHOOK_ID:
        log.warning("incoming webhook refused for %s: no event type or an oversized id", integration_id)
        raise Refused(400, "the body has no event type, or the webhook-id is too long")
    new = store.store_event(session, integration_id, webhook_id, event_type[:80], payload, now)
    return Accepted(integration_id, webhook_id, event_type, new)
