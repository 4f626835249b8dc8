"""Bracket filters (`field[op]=v`, `field[op][]=v`, `field[op][i]=v`) and opaque, signed `next` tokens.

Each list endpoint declares exactly which fields and operators it accepts (as the vendor documents
do); anything else is a 400. A `next` token carries the route, the normalised filters and the last id
served, signed with the tenant's secret, so a forged or cross-route token is rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lmsbridge.sandbox.learning360.errors import bad_request
from lmsbridge.sandbox.learning360.oid import is_object_id
from lmsbridge.sandbox.learning360.timefmt import parse_iso

_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([a-z]+)\](?:\[(\d*)\])?$")
LIST_OPS = frozenset({"in", "nin"})


@dataclass(frozen=True)
class FieldSpec:
    """One filterable field: its value kind and allowed operators (enum values optional)."""

    kind: str  # "string" | "objectid" | "date" | "bool"
    ops: frozenset[str]
    enum: tuple[str, ...] | None = None


def spec(kind: str, *ops: str, enum: Iterable[str] | None = None) -> FieldSpec:
    return FieldSpec(kind, frozenset(ops), tuple(enum) if enum is not None else None)


Filters = dict[str, dict[str, Any]]  # field → op → value (str | int | bool | list[str])


def parse_filters(items: list[tuple[str, str]], fields: dict[str, FieldSpec]) -> Filters:
    """Parse query pairs (without `next`) into validated filters; dates become epoch ms, seconds-truncated."""
    raw: dict[tuple[str, str], list[str]] = {}
    for key, value in items:
        match = _KEY_RE.match(key)
        if not match:
            raise bad_request(f"Unknown query parameter '{key}'.")
        name, op, index = match.group(1), match.group(2), match.group(3)
        field = fields.get(name)
        if field is None:
            raise bad_request(f"Filtering on '{name}' is not supported.")
        if op not in field.ops:
            raise bad_request(f"Operator '{op}' is not supported on '{name}'.")
        if index is not None and op not in LIST_OPS:
            raise bad_request(f"Operator '{op}' on '{name}' takes a single value.")
        raw.setdefault((name, op), []).append(value)
    out: Filters = {}
    for (name, op), values in raw.items():
        field = fields[name]
        if op in LIST_OPS:
            out.setdefault(name, {})[op] = [_value(name, field, v) for v in values]
        else:
            if len(values) != 1:
                raise bad_request(f"Operator '{op}' on '{name}' takes a single value.")
            out.setdefault(name, {})[op] = _value(name, field, values[0])
    return out


def _value(name: str, field: FieldSpec, value: str) -> Any:
    if field.kind == "date":
        ms = parse_iso(value)
        if ms is None:
            raise bad_request(f"'{name}' expects a date (YYYY-MM-DDThh:mm:ss.sssZ).")
        return ms - ms % 1000  # the vendor: "The milliseconds are always set to 0."
    if field.kind == "bool":
        if value not in ("true", "false"):
            raise bad_request(f"'{name}' expects true or false.")
        return value == "true"
    if field.kind == "objectid":
        if not is_object_id(value):
            raise bad_request(f"'{name}' expects an ObjectId.")
        return value.lower()
    if field.enum is not None and value not in field.enum:
        raise bad_request(f"'{name}' must be one of: {', '.join(field.enum)}.")
    if value == "":
        raise bad_request(f"'{name}' must not be empty.")
    return value


def match_value(actual: Any, ops: dict[str, Any]) -> bool:
    """Does one record value satisfy every operator given for its field? (None = field absent.)"""
    for op, expected in ops.items():
        if op == "eq":
            if actual != expected:
                return False
        elif op == "ne":
            if actual == expected:
                return False
        elif op == "in":
            if isinstance(actual, list):
                if not set(actual) & set(expected):
                    return False
            elif actual not in expected:
                return False
        elif op == "nin":
            if actual in expected:
                return False
        elif op == "lt":
            if actual is None or actual >= expected:
                return False
        elif op == "gte" and (actual is None or actual < expected):
            return False
    return True


# ---- next tokens --------------------------------------------------------------------------------


def encode_next(secret: bytes, route: str, filters: Filters, after_id: str) -> str:
    body = json.dumps(
        {"r": route, "f": filters, "a": after_id}, separators=(",", ":"), sort_keys=True
    ).encode()
    payload = base64.urlsafe_b64encode(body).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac.new(secret, payload, hashlib.sha256).digest()[:16]).rstrip(b"=")
    return (payload + b"." + sig).decode()


def decode_next(secret: bytes, route: str, token: str) -> tuple[Filters, str]:
    """(filters, last id served) from a token this tenant issued for this route; 400 otherwise."""
    try:
        payload, sig = token.encode().split(b".", 1)
        expected = base64.urlsafe_b64encode(hmac.new(secret, payload, hashlib.sha256).digest()[:16]).rstrip(
            b"="
        )
        if not hmac.compare_digest(sig, expected):
            raise ValueError("signature")
        data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        if data["r"] != route or not isinstance(data["a"], str):
            raise ValueError("route")
        return data["f"], data["a"]
    except (ValueError, KeyError, TypeError):
        raise bad_request("The given 'next' pagination token is invalid.") from None
