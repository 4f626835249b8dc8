"""How ``--help`` names a parameter's type: TEXT, INTEGER, a choice's values, and nothing for flags.
Typer 0.29 labels every parameter with its Python annotation instead (``<str>``, ``<bool>``, the help
flag included), which reads like a placeholder; it offers no setting for it, hence this hook."""

from __future__ import annotations

from typing import Any

from typer import core

_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "FLOAT",
    "bool": "BOOLEAN",
    "int range": "INTEGER",  # the range itself is shown next to it ([1<=x<=64])
    "float range": "FLOAT",
}


def _type_name(param: Any, ctx: Any) -> str | None:
    if getattr(param, "is_flag", False):
        return None  # --models, --sync/--no-sync, --help: the option is the value
    if param.metavar:
        return str(param.metavar)
    label = str(param.display_type(ctx)).removeprefix("<").removesuffix(">")
    return _NAMES.get(label, label.upper())


def install() -> None:
    """Use these names in every Typer command's help (idempotent)."""
    core.TyperOption.display_type_rich = _type_name  # type: ignore[method-assign,assignment]
    core.TyperArgument.display_type_rich = _type_name  # type: ignore[method-assign,assignment]
