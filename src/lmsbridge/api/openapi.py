"""Our OpenAPI document: Kombo's operations (ids, paths, parameters) plus our extensions, clearly tagged.

FastAPI's defaults are adjusted to what the server really does: no 422 responses (validation errors are
``PLATFORM.INPUT_INVALID`` envelopes), and every operation declares the error envelope as ``default``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lmsbridge import __version__
from lmsbridge.api.routes.logs import EXTENSIONS_TAG
from lmsbridge.unified.wire import ErrorResponse

TAGS = [
    {"name": "Unified LMS API", "description": "Kombo-compatible LMS read endpoints."},
    {"name": "General", "description": "Kombo-compatible general endpoints."},
    {"name": EXTENSIONS_TAG, "description": "lmsbridge extensions: not part of Kombo's API."},
]
_ERROR_RESPONSE = {
    "description": "Kombo error envelope; branch on `error.code` (docs/api.md: the HTTP status per code).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title="lmsbridge",
        version=__version__,
        description="Self-hostable unified LMS API, wire-compatible with Kombo's LMS API v1.",
        routes=app.routes,
        tags=TAGS,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    error_schema = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["default"] = _ERROR_RESPONSE
    app.openapi_schema = document
    return document
