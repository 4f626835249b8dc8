"""The connector boundary: only a connector's own package, its simulated tenant and the connector
registry know which LMS is behind lmsbridge.

The rule, on every ``.py`` file of ``src/lmsbridge`` (code, comments and strings alike; docs and tests
are exempt): outside the allowed places below,
1. nothing imports ``lmsbridge.connectors.learning360`` or ``lmsbridge.sandbox.learning360``;
2. nothing names the vendor: ``360Learning``/``360learning``/``learning360`` in any spelling or case,
   or the number ``360`` standing alone (``3600`` seconds is fine).
``PENDING`` lists modules that still hold 360Learning logic, each with why; an entry whose module no
longer breaks the rule fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lmsbridge"
VENDOR_PACKAGES = ("lmsbridge.connectors.learning360", "lmsbridge.sandbox.learning360")
ALLOWED = (
    "connectors/learning360/",
    "sandbox/learning360/",
    "connectors/registry.py",  # names every connector class
    "sandbox/shipped.py",  # the shipped connector's tenant, for `lmsbridge demo` and `lmsbridge sandbox`
)
VENDOR_NAME = re.compile(r"360\s*-?\s*learning|learning\s*-?\s*360|(?<![\w.])360(?![\w.])", re.IGNORECASE)

# module → why it still breaks the rule (none left; an entry here would have to say why)
PENDING: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not str(path.relative_to(PACKAGE)).startswith(ALLOWED)
        and str(path.relative_to(PACKAGE)) not in ALLOWED
    )


def _vendor_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        found += [n for n in names if n.startswith(VENDOR_PACKAGES)]
    return found


def _offences(path: Path) -> list[str]:
    offences = [f"imports {name}" for name in _vendor_imports(path)]
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if match := VENDOR_NAME.search(line):
            offences.append(f"line {number} names the vendor ({match.group(0)!r})")
    return offences


def test_only_the_connector_its_tenant_and_the_registry_know_the_vendor() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): offences
        for path in _modules()
        if str(path.relative_to(PACKAGE)) not in PENDING and (offences := _offences(path))
    }
    assert not offenders, offenders


def test_pending_modules_still_break_the_rule() -> None:
    """A module that no longer names the vendor leaves ``PENDING`` (the list only shrinks)."""
    clean = [name for name in PENDING if not (PACKAGE / name).exists() or not _offences(PACKAGE / name)]
    assert not clean, f"remove from PENDING: {clean}"


def test_the_rule_catches_every_spelling(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    for text in (
        "from lmsbridge.connectors.learning360 import mapping\n",
        "import lmsbridge.sandbox.learning360.testing\n",
        "# ask 360Learning\n",
        "TOOL = '360learning'\n",
        "x = 'Learning360'\n",
        "# the 360 API\n",
    ):
        sample.write_text(text)
        assert _offences(sample), text
    sample.write_text("TIMEOUT = 3600  # seconds; port 8360; '360-api-version' is vendor too\n")
    assert _offences(sample)  # the header name carries the vendor's number
    sample.write_text("TIMEOUT = 3600  # an hour, on port 8360\n")
    assert not _offences(sample)
