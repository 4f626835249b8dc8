"""360Learning's three error shapes (flat string, nested code+message, empty) as an exception type."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

# Codes the vendor documents leave open get this one (a guess, documented in docs/sandbox.md).
GENERIC_CODE = "invalidRequest"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str | None = None, *, flat: bool = False) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or code
        self.flat = flat

    def body(self) -> dict[str, Any]:
        if self.flat:
            return {"error": self.code}
        return {"error": {"code": self.code, "message": self.message}}

    def response(self) -> Response:
        return json_response(self.body(), self.status)


def bad_request(message: str, code: str = GENERIC_CODE) -> ApiError:
    return ApiError(400, code, message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(payload, status, headers=headers, media_type="application/json")
