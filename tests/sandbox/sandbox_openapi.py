"""Check sandbox responses against 360Learning's own OpenAPI documents (read from ../shared/reference)."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jsonschema

DOCS = {"core": "core-api.json", "bulk": "bulk-api.json", "webhook": "webhook-api.json"}


_ROOT_CONFTEST = "lmsbridge_tests_root_conftest"  # same name the connector tests use: loaded once


def root_conftest() -> ModuleType:
    """The root tests/conftest.py (several conftest.py files exist and there is no `tests` package)."""
    module = sys.modules.get(_ROOT_CONFTEST)
    if module is None:
        path = Path(__file__).resolve().parents[1] / "conftest.py"
        loader_spec = importlib.util.spec_from_file_location(_ROOT_CONFTEST, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[_ROOT_CONFTEST] = module
        loader_spec.loader.exec_module(module)
    return module


def spec(doc: str) -> Any:
    return root_conftest().reference_document("360learning-openapi", DOCS[doc])


@cache
def _validator(doc: str, pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**spec(doc), "$ref": pointer})


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def operation(doc: str, method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = spec(doc)["paths"][path][method.lower()]
    return op


def validate_schema(doc: str, pointer: str, instance: Any) -> None:
    """Validate against the schema at `pointer`, resolving $refs within the whole document."""
    _validator(doc, pointer).validate(instance)


def check(doc: str, method: str, path: str, response: httpx.Response) -> Any:
    """Status declared for the operation, body valid against its schema, declared headers present."""
    op = operation(doc, method, path)
    status = str(response.status_code)
    assert status in op["responses"], f"{method} {path}: {status} not declared ({list(op['responses'])})"
    declared = op["responses"][status]
    content = declared.get("content", {}).get("application/json")
    if content is None:
        assert response.content == b"", f"{method} {path} {status}: body should be empty"
        body = None
    else:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        validate_schema(
            doc,
            _pointer(
                "paths", path, method.lower(), "responses", status, "content", "application/json", "schema"
            ),
            body,
        )
    for header in declared.get("headers", {}):
        if header.lower() == "link":
            continue  # only present when another page exists; checked by the pagination tests
        assert header.lower() in response.headers, f"{method} {path} {status}: header {header} missing"
    return body


def follow(
    client: httpx.Client, url: str, params: Any = None
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Every row of a Link-paginated list, and every page response."""
    rows: list[dict[str, Any]] = []
    responses: list[httpx.Response] = []
    next_url: str | None = url
    first = True
    while next_url:
        response = client.get(next_url, params=params if first else None)
        first = False
        assert response.status_code == 200, response.text
        responses.append(response)
        rows.extend(response.json())
        link = response.headers.get("link")
        next_url = link[link.index("<") + 1 : link.index(">")] if link else None
    return rows, responses
