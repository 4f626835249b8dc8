"""JSON responses: from wire models, serialised once by pydantic (no second validation by FastAPI), or
from plain data built by the hot read paths, serialised by orjson."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(content=model.model_dump_json(), status_code=status_code, media_type="application/json")


def data_response(data: Any, status_code: int = 200) -> Response:
    """``{"status": "success", "data": data}`` where ``data`` is plain data (orjson types and Fragments)."""
    body = orjson.dumps({"status": "success", "data": data})
    return Response(content=body, status_code=status_code, media_type="application/json")
