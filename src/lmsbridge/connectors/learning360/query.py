"""Query strings in 360Learning's bracket notation (``courseId[in]=a&courseId[in]=b``) and its dates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

# Operators by type, per the vendor docs: strings/ids eq ne in nin; dates lt gte; booleans eq.
OPERATORS = frozenset({"eq", "ne", "in", "nin", "lt", "gte"})
LIST_OPERATORS = frozenset({"in", "nin"})

Params = tuple[tuple[str, str], ...]
FilterValue = str | int | bool | datetime | Sequence[str]


def format_datetime(value: datetime) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ss.000Z``: 360Learning sets filter milliseconds to 0, so we send them so."""
    if value.tzinfo is None:
        raise ValueError("filter dates must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _scalar(value: str | int | bool | datetime) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


def encode_filters(filters: Mapping[str, Mapping[str, FilterValue]]) -> Params:
    """``{"courseId": {"in": [a, b]}}`` → ``(("courseId[in]", a), ("courseId[in]", b))``.

    Lists use the repeated form without indices: qs (NestJS) turns indices above 20 into object keys.
    """
    params: list[tuple[str, str]] = []
    for field, operators in filters.items():
        for operator, value in operators.items():
            if operator not in OPERATORS:
                raise ValueError(f"unknown filter operator {operator!r}")
            key = f"{field}[{operator}]"
            if operator in LIST_OPERATORS:
                if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                    raise ValueError(f"{key} needs a list of values")
                params.extend((key, _scalar(item)) for item in value)
            else:
                if isinstance(value, Sequence) and not isinstance(value, str):
                    raise ValueError(f"{key} takes one value")
                params.append((key, _scalar(value)))
    return tuple(params)


def query_string(params: Iterable[tuple[str, str]]) -> str:
    """The encoded query exactly as the client sends it (brackets percent-encoded, as httpx does)."""
    return urlencode(list(params))
