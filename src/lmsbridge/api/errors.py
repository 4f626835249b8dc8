"""Kombo's error envelope: the codes we emit, one documented HTTP status per code, and ``ApiError``.

Clients branch on ``error.code`` (Kombo's advice); the HTTP status is fixed per code so proxies and
retry logic behave sensibly. Routing-level failures (unknown path, wrong method, unknown log id) have
no Kombo code and answer ``code: null`` (the spec's "minimal error response").
"""

from __future__ import annotations

from lmsbridge.unified.errors import ERROR_KINDS, ErrorKind, KomboError
from lmsbridge.unified.wire import ErrorDetail, ErrorResponse

__all__ = ["ERROR_KINDS", "ApiError", "ErrorKind", "KomboError", "envelope", "input_invalid"]


# Routing-level answers without a Kombo code.
NOT_FOUND_TITLE = "Not found."
METHOD_NOT_ALLOWED_TITLE = "Method not allowed."


ApiError = KomboError  # the API's name for it


def input_invalid(message: str) -> ApiError:
    return ApiError("PLATFORM.INPUT_INVALID", message)


def envelope(error: ApiError, log_url: str | None) -> ErrorResponse:
    return ErrorResponse(
        error=ErrorDetail(code=error.code, title=error.title, message=error.message, log_url=log_url)
    )
