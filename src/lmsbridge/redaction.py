"""Removes secrets from anything about to be logged: sensitive keys, Bearer/Basic values, URL parameters.

Every pattern here runs in linear time on any input: text from a request (a URL, a body that did not
parse) reaches these functions before anything else looks at it, so one backtracking pattern would let
a single request hold the interpreter for minutes. Each pattern can only start a match where its
previous character cannot continue it (a lookbehind), and its repeated parts are disjoint from what
follows them, so the regex engine never rescans a run of characters from inside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

# Matched after lower-casing and dropping "-" and "_": clientSecret, client_secret, X-Client-Secret all match.
_SENSITIVE_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "apikey",
    "accesskey",
    "authorization",
    "signature",
    "cookie",
)
# "key" alone: callers put API keys in ?key=… (as some APIs ask)
_SENSITIVE_EXACT = frozenset({"auth", "credentials", "privatekey", "sessionid", "key"})

_KEY_CHARS = r"A-Za-z0-9_\-.\[\]"
_AUTH_SCHEME = re.compile(r"(?<![A-Za-z0-9])(Bearer|Basic|Token)[ \t]+[A-Za-z0-9\-._~+/=:]+", re.IGNORECASE)
# key=value in query strings and form bodies; a key starts only where the previous character is not a
# key character, so a long run without "=" is scanned once, not once per starting position
_QUERY_PAIR = re.compile(rf"(?<![{_KEY_CHARS}])(?P<key>[{_KEY_CHARS}]+)=(?P<value>[^&\s#\"']*)")
# "key": "value" inside JSON text that did not get parsed (e.g. an error message quoting a body)
_JSON_PAIR = re.compile(r'"(?P<key>[A-Za-z0-9_\-]+)"[ \t]*:[ \t]*"(?P<value>[^"\\]*(?:\\.[^"\\]*)*)"')
# our own API keys wherever they appear (a path segment, a header echoed in a message)
_OWN_API_KEY = re.compile(r"(?<![A-Za-z0-9_\-])lmsb_[A-Za-z0-9_\-]+")


def is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "").replace("_", "")
    return normalized in _SENSITIVE_EXACT or any(part in normalized for part in _SENSITIVE_PARTS)


def redact_text(text: str) -> str:
    """Hide credentials inside free text: auth header values, sensitive query parameters, JSON pairs,
    lmsbridge API keys. Linear in the length of ``text``."""
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _OWN_API_KEY.sub(REDACTED, text)
    text = _QUERY_PAIR.sub(
        lambda m: f"{m.group('key')}={REDACTED}" if is_sensitive_key(m.group("key")) else m.group(0), text
    )
    return _JSON_PAIR.sub(
        lambda m: f'"{m.group("key")}": "{REDACTED}"' if is_sensitive_key(m.group("key")) else m.group(0),
        text,
    )


def redact_url(url: str) -> str:
    """``url`` with secrets removed: sensitive query parameters, a password in the authority, and our
    API keys anywhere in it. For access and request logs; linear in the URL's length."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparseable URL (bad IPv6 literal, …) is still redacted as text
        return redact_text(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    rebuilt = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment)
    return redact_text(urlunsplit(rebuilt))


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
        sensitive = sep and is_sensitive_key(unquote_plus(key))
        parts.append(f"{key}={REDACTED}" if sensitive else _OWN_API_KEY.sub(REDACTED, pair))
    return "&".join(parts)
