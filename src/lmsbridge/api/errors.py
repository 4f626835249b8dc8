"""Kombo's error envelope: the codes we emit, one documented HTTP status per code, and ``ApiError``.

Clients branch on ``error.code`` (Kombo's advice); the HTTP status is fixed per code so proxies and
retry logic behave sensibly. Routing-level failures (unknown path, wrong method, unknown log id) have
no Kombo code and answer ``code: null`` (the spec's "minimal error response").
"""

from __future__ import annotations

from lmsbridge.unified.errors import ERROR_KINDS, ErrorKind, KomboError
from lmsbridge.unified.wire import ErrorDetail, ErrorResponse

__all__ = [
    "ERROR_KINDS",
    "GENERAL_CODES",
    "ApiError",
    "ErrorKind",
    "KomboError",
    "envelope",
    "for_general_operation",
    "input_invalid",
]


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


# The only codes Kombo's spec (and so its SDKs) allow for the "General" operations (check-api-key,
# force-sync, passthrough, integrations): any other code makes the SDK fail to parse the error.
GENERAL_CODES = frozenset(
    {
        "PLATFORM.RATE_LIMIT_EXCEEDED",
        "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",
        "PLATFORM.INTEGRATION_NOT_FOUND",
        "PLATFORM.INPUT_INVALID",
        "PLATFORM.UNKNOWN_ERROR",
        "PLATFORM.IP_NOT_WHITELISTED",
        "PLATFORM.AUTHENTICATION_INVALID",
        "PLATFORM.TASK_TIMED_OUT",
    }
)
_GENERAL_EQUIVALENT = {
    "REMOTE.RATE_LIMIT_EXCEEDED": "PLATFORM.RATE_LIMIT_EXCEEDED",
    "REMOTE.SERVICE_UNAVAILABLE": "PLATFORM.UNKNOWN_ERROR",
    "REMOTE.UNKNOWN_HTTP_ERROR": "PLATFORM.UNKNOWN_ERROR",
}


def for_general_operation(error: ApiError) -> ApiError:
    """``error`` as a General operation may answer it: a code outside ``GENERAL_CODES`` becomes the
    nearest one (an integration's state or the remote's refusal of the input: PLATFORM.INPUT_INVALID;
    the remote failing: PLATFORM.UNKNOWN_ERROR), with our specific code leading the message. The HTTP
    status and title stay those of the specific code."""
    if error.code is None or error.code in GENERAL_CODES:
        return error
    code = _GENERAL_EQUIVALENT.get(error.code, "PLATFORM.INPUT_INVALID")
    return ApiError(code, f"{error.code}: {error.message}", status=error.status, title=error.title)
