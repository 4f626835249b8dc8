"""Content hashes of records: stable JSON of the mapped values and remote_data (minus volatile keys)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a record; mapping must produce aware UTC datetimes")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


# Datetimes go through _default (not orjson's own format) so they stay UTC ISO strings as before, and
# naive ones are still refused.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_NATIVE_UTC_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


# For what orjson refuses: integers beyond 64 bits (a decoded page may hold them), values _default
# rejects (so the error raised is the one it always was).
_fallback = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def stable_json_bytes(value: Any) -> bytes:
    """The same data always gives the same UTF-8 text (sorted keys, no whitespace, UTC ISO datetimes)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:  # the stdlib gives the same text, or raises as it always did
        return _fallback.encode(value).encode()


def stable_json(value: Any) -> str:
    """``stable_json_bytes`` as text (JSON columns, checkpoints)."""
    return stable_json_bytes(value).decode()


def _values_json(values: list[Any]) -> bytes:
    """``stable_json_bytes`` of a record's column values. Their datetimes are UTC as the mapping makes
    them, and orjson writes those exactly as ``_default`` does: no Python call per datetime then."""
    if all(not isinstance(v, datetime) or v.tzinfo is UTC for v in values):
        return orjson.dumps(values, default=_default, option=_NATIVE_UTC_OPTIONS)
    return stable_json_bytes(values)


def hash_with_json(
    values: Iterable[Any], remote_data: Mapping[str, Any] | None, volatile_keys: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """(content hash, stable JSON of the whole ``remote_data``): one serialisation serves both when the
    payload has no volatile keys, which is the common case."""
    data_json = stable_json_bytes(remote_data)
    if remote_data is not None and volatile_keys and not volatile_keys.isdisjoint(remote_data):
        hashed_json = stable_json_bytes({k: v for k, v in remote_data.items() if k not in volatile_keys})
    else:
        hashed_json = data_json
    payload = b"%b\n%b" % (_values_json(list(values)), hashed_json)
    return hashlib.blake2b(payload, digest_size=16).hexdigest(), data_json.decode()


def content_hash(
    values: Iterable[Any], remote_data: Mapping[str, Any] | None, volatile_keys: frozenset[str] = frozenset()
) -> str:
    """32 hex chars over the ordered mapped ``values`` and ``remote_data`` without ``volatile_keys``."""
    return hash_with_json(values, remote_data, volatile_keys)[0]
