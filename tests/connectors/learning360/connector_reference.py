"""Access to the root ``tests/conftest.py`` helpers from connector tests.

Several directories have a ``conftest.py`` and there is no ``tests`` package, so ``import conftest``
may name another one; load the root file under its own module name instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "lmsbridge_tests_root_conftest"


def root_conftest() -> ModuleType:
    module = sys.modules.get(_NAME)
    if module is None:
        path = Path(__file__).resolve().parents[2] / "conftest.py"
        spec = importlib.util.spec_from_file_location(_NAME, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return module
