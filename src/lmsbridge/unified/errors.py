"""Kombo's error codes with one documented HTTP status and title each, and the error that carries one.

Clients branch on ``error.code`` (Kombo's advice); the HTTP status is fixed per code so proxies and retry
logic behave sensibly. Pure data: actions and features raise ``KomboError``, the API renders it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    status: int
    title: str


# code -> (HTTP status, static title). The docs/api.md table is generated from the same facts.
ERROR_KINDS: dict[str, ErrorKind] = {
    "PLATFORM.AUTHENTICATION_INVALID": ErrorKind(401, "The API key is missing or invalid."),
    "PLATFORM.IP_NOT_WHITELISTED": ErrorKind(403, "Requests from this IP address are not allowed."),
    "PLATFORM.INTEGRATION_NOT_FOUND": ErrorKind(404, "The integration does not exist."),
    "PLATFORM.INPUT_INVALID": ErrorKind(400, "The request is invalid."),
    "PLATFORM.RATE_LIMIT_EXCEEDED": ErrorKind(429, "Too many requests."),
    "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED": ErrorKind(429, "Too many concurrent requests."),
    "PLATFORM.TASK_TIMED_OUT": ErrorKind(504, "The task timed out."),
    "PLATFORM.UNKNOWN_ERROR": ErrorKind(500, "An unexpected error occurred."),
    "INTEGRATION.INACTIVE": ErrorKind(409, "The integration is disabled."),
    "INTEGRATION.SETUP_INCOMPLETE": ErrorKind(409, "The integration's setup is incomplete."),
    "INTEGRATION.SETUP_SYNC_PENDING": ErrorKind(409, "The integration's first sync has not finished yet."),
    "INTEGRATION.QA_FAILED": ErrorKind(409, "The integration failed quality assurance."),
    "INTEGRATION.AUTHENTICATION_INVALID": ErrorKind(409, "The integration's credentials are invalid."),
    "INTEGRATION.PERMISSION_MISSING": ErrorKind(403, "The integration lacks a permission for this request."),
    "INTEGRATION.MODEL_NOT_AVAILABLE": ErrorKind(
        404, "This data model isn't supported for the selected integration."
    ),
    "INTEGRATION.MODEL_DISABLED": ErrorKind(403, "This data model is disabled for the selected integration."),
    "INTEGRATION.ACTION_NOT_AVAILABLE": ErrorKind(
        404, "This action isn't supported for the selected integration."
    ),
    "INTEGRATION.ACTION_DISABLED": ErrorKind(403, "This action is disabled for the selected integration."),
    "REMOTE.INPUT_INVALID": ErrorKind(400, "The remote system rejected the input."),
    "REMOTE.RATE_LIMIT_EXCEEDED": ErrorKind(429, "The remote system's rate limit was exceeded."),
    "REMOTE.SERVICE_UNAVAILABLE": ErrorKind(503, "The remote system is unavailable."),
    "REMOTE.UNKNOWN_HTTP_ERROR": ErrorKind(502, "The remote system answered with an unexpected error."),
}


class KomboError(Exception):
    """Raised anywhere in a request; the API renders it as Kombo's envelope with the code's HTTP status."""

    def __init__(
        self, code: str | None, message: str, *, status: int | None = None, title: str | None = None
    ):
        kind = ERROR_KINDS.get(code) if code else None
        if kind is None and status is None:
            raise ValueError(f"unknown error code {code!r} needs an explicit status")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else kind.status  # type: ignore[union-attr]
        self.title = title if title is not None else (kind.title if kind else None)
