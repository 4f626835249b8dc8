"""No import cycle between lmsbridge modules, hidden in a function body or not; the cycle finder and the
graph reader themselves are checked on small synthetic inputs, so a pass means "no cycle", not "no check"."""

from __future__ import annotations

from pathlib import Path

from import_graph import cycles, imported_modules, package_graph


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(package_graph())
    assert not found, f"import cycles (function-level imports included): {found}"


def test_the_graph_covers_the_whole_package() -> None:
    graph = package_graph()
    assert {"lmsbridge.cli", "lmsbridge.settings", "lmsbridge.api.app", "lmsbridge.web"} <= set(graph)
    # a known dependency, to prove edges are read at all
    assert "lmsbridge.settings" in graph["lmsbridge.crypto"]


def test_cycle_finder_reports_a_cycle_and_nothing_else() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a → b → c → a
        "d": {"e"},
        "e": set(),
        "f": {"f"},  # a module importing itself
        "g": {"a"},  # leads into the cycle, not part of it
    }
    assert cycles(graph) == [["a", "b", "c"], ["f"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_cycle_finder_separates_two_cycles_joined_by_one_edge() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}}
    assert cycles(graph) == [["a", "b"], ["c", "d"]]


def test_a_function_level_import_closes_a_cycle(tmp_path: Path) -> None:
    """What ``cli`` ↔ ``webhooks.cli`` was: a top-level import one way, a function-level import back."""
    known = {"pkg.cli", "pkg.sub", "pkg.sub.cli", "pkg.typing_only"}
    cli = "from pkg.sub.cli import app\n"
    sub_cli = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.typing_only import Thing\n"
        "def command():\n"
        "    from pkg.cli import helper\n"
        "    return helper()\n"
    )
    graph = {
        "pkg.cli": imported_modules(cli, "pkg.cli", known),
        "pkg.sub.cli": imported_modules(sub_cli, "pkg.sub.cli", known),
    }
    assert graph == {"pkg.cli": {"pkg.sub.cli"}, "pkg.sub.cli": {"pkg.cli"}}  # TYPE_CHECKING is ignored
    assert cycles(graph) == [["pkg.cli", "pkg.sub.cli"]]


def test_imports_resolve_to_submodules_names_to_their_module_and_relative_imports() -> None:
    known = {"pkg", "pkg.web", "pkg.web.pages", "pkg.store", "pkg.store.schema"}
    source = (
        "import os\n"
        "from pkg.web import pages\n"  # a submodule
        "from pkg.store.schema import Table\n"  # a name in a module
        "import pkg.store.schema.Table\n"  # nonsense but harmless: the longest known prefix
        "from . import web\n"  # relative, from inside the package `pkg.store`
    )
    found = imported_modules(source, "pkg.store.rows", known | {"pkg.store.rows"})
    assert found == {"pkg.web.pages", "pkg.store.schema", "pkg.store"}
