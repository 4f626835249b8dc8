"""Removes secrets from anything about to be logged: sensitive keys, Bearer/Basic values, URL parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "[REDACTED]"

# Matched after lower-casing and dropping "-" and "_": clientSecret, client_secret, X-Client-Secret all match.
_SENSITIVE_PARTS = ("secret", "password", "passwd", "token", "apikey", "authorization", "signature", "cookie")
_SENSITIVE_EXACT = frozenset({"auth", "credentials", "privatekey", "sessionid"})

_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9\-._~+/=:]+", re.IGNORECASE)
# key=value in query strings and form bodies
_QUERY_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_\-.\[\]]+)=(?P<value>[^&\s#\"']*)")
# "key": "value" inside JSON text that did not get parsed (e.g. an error message quoting a body)
_JSON_PAIR = re.compile(r'"(?P<key>[A-Za-z0-9_\-]+)"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')


def is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "").replace("_", "")
    return normalized in _SENSITIVE_EXACT or any(part in normalized for part in _SENSITIVE_PARTS)


def redact_text(text: str) -> str:
    """Hide credentials inside free text: auth header values, sensitive query parameters, JSON pairs."""
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _QUERY_PAIR.sub(
        lambda m: f"{m.group('key')}={REDACTED}" if is_sensitive_key(m.group("key")) else m.group(0), text
    )
    return _JSON_PAIR.sub(
        lambda m: f'"{m.group("key")}": "{REDACTED}"' if is_sensitive_key(m.group("key")) else m.group(0),
        text,
    )


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like data) with every secret replaced by ``[REDACTED]``."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if is_sensitive_key(str(k)) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        # header lists: [["Authorization", "Bearer …"], …]
        if len(value) == 2 and isinstance(value[0], str) and is_sensitive_key(value[0]):
            return [value[0], REDACTED]
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", errors="replace"))
    return value


def redact_query(query: str) -> str:
    """A query string (without ``?``) with the value of every sensitive parameter replaced; the rest kept
    as sent (order, encoding), so a logged query still shows what was asked. Linear in its length."""
    if not query:
        return query
    parts = []
    for pair in query.split("&"):
        key, sep, _value = pair.partition("=")
        parts.append(f"{key}={REDACTED}" if sep and is_sensitive_key(unquote_plus(key)) else pair)
    return "&".join(parts)
