"""Validates action responses against Kombo's OpenAPI document with the API tests' validator
(tests/api/api_support.py), so both suites share one implementation."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def contract() -> Any:
    root = _load("_root_conftest_for_actions", TESTS / "conftest.py")
    api_support = _load("_api_support_for_actions", TESTS / "api" / "api_support.py")
    document = root.reference_document("kombo-openapi", "kombo-lms-subset.json")
    return api_support.KomboContract(document)
