"""What ``lmsbridge integrations add`` takes to connect a tenant: ``NAME=VALUE`` pairs checked against the
fields the tool's connector declares (``Connector.credential_fields``, ``setting_fields``,
``host_choices``), secrets also from their environment variable or a hidden prompt."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

from lmsbridge.cli_common import CliError

if TYPE_CHECKING:
    from lmsbridge.connectors.base import Connector, CredentialField


@dataclass(frozen=True, slots=True)
class ConnectionInput:
    """What to hand to ``lmsbridge.connect``: the tool's host, credentials and settings."""

    host: str
    credentials: dict[str, str]
    settings: dict[str, str]


def stdin_is_terminal() -> bool:
    # a module function, so tests can stand in for a terminal
    return sys.stdin.isatty()


def ask_hidden(field: CredentialField) -> str:
    # on stderr: stdout carries only the command's result
    value: str = typer.prompt(field.label, hide_input=True, err=True)
    return value


def connector_for(tool: str) -> type[Connector]:
    """The tool's connector class; an unknown tool is a ``CliError`` naming the known ones."""
    from lmsbridge.connectors.registry import CONNECTORS

    known = CONNECTORS.get(tool)
    if known is None:
        raise CliError(f"unknown tool {tool!r}; known: {', '.join(sorted(CONNECTORS))}")
    return known


def _accepted(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def parse_pairs(option: str, given: Sequence[str], accepted: Sequence[str], tool: str) -> dict[str, str]:
    """``NAME=VALUE`` items of a repeatable option, each name one the tool declares. Messages never
    repeat what was typed after the name: it may be a secret."""
    values: dict[str, str] = {}
    for item in given:
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise CliError(
                f"{option} takes NAME=VALUE and one of them has no name or no '='; "
                f"{tool} accepts: {_accepted(accepted)}"
            )
        if name not in accepted:
            raise CliError(f"{tool} has no {option} {name!r}; it accepts: {_accepted(accepted)}")
        if name in values:
            raise CliError(f"{option} {name} is given twice")
        values[name] = value
    return values


def _where_from(field: CredentialField) -> str:
    ways = [f"--credential {field.name}=…"]
    if field.env:
        ways.append(field.env)
    return f"{field.name} ({' or '.join(ways)})"


def connection_input(
    cls: type[Connector],
    *,
    host: str | None,
    credentials: Sequence[str],
    settings: Sequence[str],
    environ: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    ask: Callable[[CredentialField], str] = ask_hidden,
) -> ConnectionInput:
    """Check the command line against ``cls``'s declarations and complete it: a credential not given
    comes from its environment variable, else (a secret, on a terminal) from a hidden prompt; whatever
    is still missing is one ``CliError`` naming every missing field."""
    tool = cls.tool
    given = parse_pairs("--credential", credentials, [f.name for f in cls.credential_fields], tool)
    chosen = parse_pairs("--setting", settings, [f.name for f in cls.setting_fields], tool)
    environ = os.environ if environ is None else environ
    for field in cls.credential_fields:
        if field.name not in given and field.env and environ.get(field.env):
            given[field.name] = environ[field.env]
    missing = [f for f in cls.credential_fields if f.name not in given]
    if interactive is None:
        interactive = stdin_is_terminal()
    # only secrets are asked for (typed hidden); a missing plain field is an error before any prompt
    if missing and not (interactive and all(f.secret for f in missing)):
        hint = "; a secret is asked for when stdin is a terminal" if any(f.secret for f in missing) else ""
        raise CliError(f"{tool} needs {', '.join(_where_from(f) for f in missing)}{hint}")
    for field in missing:
        given[field.name] = ask(field)
    host = host if host is not None else cls.default_host()
    if host is None:
        raise CliError(f"{tool} needs --host: the base URL of the tenant")
    return ConnectionInput(host=host, credentials=given, settings=chosen)


def fields_help() -> str:
    """Per known tool, the names ``--credential``, ``--setting`` and ``--host`` take (the help's epilog)."""
    from lmsbridge.connectors.registry import CONNECTORS

    paragraphs = []
    for tool, cls in sorted(CONNECTORS.items()):
        credentials = [
            f.name + (f" (secret; or {f.env})" if f.secret and f.env else " (secret)" if f.secret else "")
            for f in cls.credential_fields
        ]
        parts = [f"credentials {_accepted(credentials)}"]
        if cls.setting_fields:
            parts.append(f"settings {', '.join(f.name for f in cls.setting_fields)}")
        if cls.host_choices:
            named = ", ".join(value for value, _ in cls.host_choices)
            parts.append(f"host {named} (default {cls.default_host()})")
        else:
            parts.append("host the tenant's base URL (required)")
        paragraphs.append(f"{tool}: {'; '.join(parts)}.")
    return "\n\n".join(["What each tool takes:", *paragraphs])


class FieldsHelpCommand(TyperCommand):
    """A command whose help ends with ``fields_help``, built when help is shown: the registry (and the
    connectors it imports) stays out of every other CLI start."""

    # Any: Typer passes its own vendored click's Context and HelpFormatter
    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.epilog = fields_help()
        super().format_help(ctx, formatter)
