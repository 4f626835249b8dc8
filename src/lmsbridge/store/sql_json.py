"""JSON built by the database, for read paths that serve stored rows as they are: SQLite's JSON functions
or PostgreSQL's, behind one set of SQLAlchemy constructs. The database renders a row in C, so no Python
object is made per row or field (the hottest list endpoint spent more time there than in its query).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Text, case, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_KEY = re.compile(r"^[a-z_]+$")


class JsonObject(FunctionElement[str]):
    """A JSON object with the given keys, in that order: ``json_object`` on SQLite, ``json_build_object``
    on PostgreSQL (json, not jsonb, which would reorder the keys). SQL NULL values become JSON null."""

    type = Text()
    inherit_cache = True

    def __init__(self, fields: dict[str, Any]) -> None:
        pairs: list[Any] = []
        for key, value in fields.items():
            if not _KEY.match(key):  # keys are rendered as SQL literals
                raise ValueError(f"not a plain JSON key: {key!r}")
            pairs += [literal_column(f"'{key}'"), value]
        super().__init__(*pairs)


@compiles(JsonObject)
def _json_object(element: JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(JsonObject, "sqlite")
def _json_object_sqlite(element: JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


class EmbeddedJson(FunctionElement[str]):
    """A stored JSON column as a JSON value inside a ``JsonObject`` (on SQLite, stored JSON is text, which
    ``json()`` marks as JSON; it would be embedded as a string otherwise)."""

    type = Text()
    inherit_cache = True


@compiles(EmbeddedJson)
def _embedded_json(element: EmbeddedJson, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(EmbeddedJson, "sqlite")
def _embedded_json_sqlite(element: EmbeddedJson, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json({compiler.process(element.clauses, **kw)})"


class JsonText(FunctionElement[str]):
    """JSON as text, never decoded: as is on SQLite (where it is text already, and a CAST copies every
    value), ``CAST(… AS TEXT)`` elsewhere (psycopg would decode json into objects)."""

    type = Text()
    inherit_cache = True


@compiles(JsonText)
def _json_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(JsonText, "sqlite")
def _json_text_sqlite(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class WireTimestamp(FunctionElement[str]):
    """A stored UTC datetime as ``2022-08-07T14:01:29.196Z`` (``wire.format_timestamp``: milliseconds,
    truncated). SQLite stores ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text (no fraction when it is zero)."""

    type = Text()
    inherit_cache = True


@compiles(WireTimestamp)
def _wire_timestamp(element: WireTimestamp, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"""to_char(({value}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


@compiles(WireTimestamp, "sqlite")
def _wire_timestamp_sqlite(element: WireTimestamp, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return (
        f"CASE WHEN ({value}) IS NULL THEN NULL ELSE substr({value}, 1, 10) || 'T' || "
        f"substr({value}, 12, 8) || '.' || substr(({value}) || '.000000', 21, 3) || 'Z' END"
    )


def json_or_null(condition: ColumnElement[bool], value: Any) -> Any:
    """``value`` where ``condition`` holds, else SQL NULL (JSON null inside a ``JsonObject``)."""
    return case((condition, value), else_=None)
