"""Capture what the process log writes (JSON lines, as in production) while a block runs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lmsbridge.logs import configure_logging


@dataclass
class CapturedLog:
    buffer: io.StringIO = field(default_factory=io.StringIO)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed: each one must be a JSON object."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]


@contextmanager
def captured_log(level: str = "DEBUG") -> Iterator[CapturedLog]:
    """The process log as JSON into a buffer; the logging set-up before the block comes back after it."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    access = logging.getLogger("uvicorn.access")
    saved_access = access.disabled
    captured = CapturedLog()
    configure_logging(level, "json", stream=captured.buffer)
    try:
        yield captured
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
        access.disabled = saved_access
