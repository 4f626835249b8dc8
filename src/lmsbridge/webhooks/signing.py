"""Kombo's webhook signature: HMAC-SHA256 over the exact raw body bytes, base64url without padding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Kombo-Signature"
# 32 random bytes: as strong as the HMAC-SHA256 key can usefully be
_SECRET_BYTES = 32


def sign(secret: str, body: bytes) -> str:
    """The ``X-Kombo-Signature`` value for ``body`` (the bytes exactly as sent on the wire)."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a received signature (for receivers written in Python, and our tests)."""
    return hmac.compare_digest(sign(secret, body), signature)


def new_secret() -> str:
    """A fresh endpoint secret (URL-safe text, shown to the user once, stored encrypted)."""
    return secrets.token_urlsafe(_SECRET_BYTES)
