"""Opaque, HMAC-signed page cursors bound to the endpoint, the integration and the exact filters.

A cursor carries only the keyset position (the last id served) and a binding digest. The MAC key is
derived from the installation's encryption key, so cursors survive restarts but cannot be forged; a
cursor replayed on another endpoint, integration or filter set fails the binding check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

_MAC_BYTES = 16
_MAX_CURSOR_CHARS = 512


class InvalidCursorError(ValueError):
    """The cursor was not issued by this installation for this endpoint, integration and filters."""


def derive_cursor_key(installation_key: bytes) -> bytes:
    # a distinct key per purpose: cursor MACs never double as anything else the installation key protects
    return hmac.new(installation_key, b"lmsbridge/cursor/v1", hashlib.sha256).digest()


def _binding(endpoint: str, integration_id: str, filters: dict[str, Any]) -> str:
    canonical = json.dumps([endpoint, integration_id, filters], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, endpoint: str, integration_id: str, filters: dict[str, Any], after_id: str) -> str:
        payload = json.dumps(
            {"a": after_id, "b": _binding(endpoint, integration_id, filters)}, separators=(",", ":")
        ).encode()
        return _b64(payload + self._mac(payload))

    def decode(self, cursor: str, endpoint: str, integration_id: str, filters: dict[str, Any]) -> str:
        """The keyset position in ``cursor``; raises ``InvalidCursorError`` on any mismatch."""
        if not cursor or len(cursor) > _MAX_CURSOR_CHARS:
            raise InvalidCursorError("the cursor is malformed")
        try:
            raw = _unb64(cursor)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursorError("the cursor is malformed") from exc
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidCursorError("the cursor is not valid (tampered with or issued elsewhere)")
        try:
            data = json.loads(payload)
            after_id, binding = data["a"], data["b"]
        except (ValueError, KeyError, TypeError) as exc:  # cannot happen for a cursor we signed
            raise InvalidCursorError("the cursor is malformed") from exc
        if not isinstance(after_id, str) or not hmac.compare_digest(
            str(binding), _binding(endpoint, integration_id, filters)
        ):
            raise InvalidCursorError(
                "the cursor belongs to another endpoint, integration or set of filters; "
                "send the same filters as on the first page"
            )
        return after_id
