"""Content hashes of records: stable JSON of the mapped values and remote_data (minus volatile keys)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a record; mapping must produce aware UTC datetimes")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def stable_json(value: Any) -> str:
    """The same data always gives the same text (sorted keys, no whitespace, UTC ISO datetimes)."""
    return _encoder.encode(value)


def hash_with_json(
    values: Iterable[Any], remote_data: Mapping[str, Any] | None, volatile_keys: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """(content hash, stable JSON of the whole ``remote_data``): one serialisation serves both when the
    payload has no volatile keys, which is the common case."""
    data_json = stable_json(remote_data)
    if remote_data is not None and volatile_keys and not volatile_keys.isdisjoint(remote_data):
        hashed_json = stable_json({k: v for k, v in remote_data.items() if k not in volatile_keys})
    else:
        hashed_json = data_json
    payload = f"{stable_json(list(values))}\n{hashed_json}".encode()
    return hashlib.blake2b(payload, digest_size=16).hexdigest(), data_json


def content_hash(
    values: Iterable[Any], remote_data: Mapping[str, Any] | None, volatile_keys: frozenset[str] = frozenset()
) -> str:
    """32 hex chars over the ordered mapped ``values`` and ``remote_data`` without ``volatile_keys``."""
    return hash_with_json(values, remote_data, volatile_keys)[0]
