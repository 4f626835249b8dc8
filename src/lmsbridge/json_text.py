"""Decoding JSON text the way every part of lmsbridge does: orjson for speed, the standard library for
what orjson refuses but JSON parsers commonly accept (integers beyond 64 bits, NaN), so no text decodes
differently than it would with ``json.loads``."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: bytes | str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
