"""The import graph of the lmsbridge package, read from the source with ``ast``, and its cycles.

A node is a module (``lmsbridge.api.guard``; a package is its ``__init__``). An edge is any import of a
project module, at module level or inside a function body (a function-level import is a cycle put off,
not gone), except imports under ``if TYPE_CHECKING:`` (never executed). ``from lmsbridge.web import
dashboard`` points at the submodule ``lmsbridge.web.dashboard`` when it exists, else at the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "src" / "lmsbridge"

Graph = Mapping[str, Iterable[str]]


def module_names(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports_of(child)
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The dotted module an ``ImportFrom`` names, with relative imports resolved against the importer."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(
    source: str, importer: str, known: Iterable[str], *, is_package: bool = False
) -> set[str]:
    """The project modules (among ``known``) that the module ``importer`` with this source imports."""
    modules = set(known)
    top = importer.split(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            parent = _absolute(node, importer, is_package)
            targets = [
                f"{parent}.{alias.name}" if f"{parent}.{alias.name}" in modules else parent
                for alias in node.names
            ]
        for target in targets:
            # `import lmsbridge.a.b.c` where c is a name, not a module: the longest known prefix
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.split(".")[0] == top and target and target != importer:
                found.add(target)
    return found


@cache
def package_graph(root: Path = PACKAGE_ROOT) -> Mapping[str, frozenset[str]]:
    """Module → the project modules it imports, for the whole package (read once per test process)."""
    names = module_names(root)
    graph: dict[str, frozenset[str]] = {}
    for name, path in names.items():
        package = path.name == "__init__.py"
        graph[name] = frozenset(imported_modules(path.read_text(), name, names, is_package=package))
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles of ``graph``: each strongly connected component of more than one module (or a
    module importing itself), sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = []
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        work.append((start, iter(sorted(graph.get(start, ())))))
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return sorted(found)
