"""Errors a connector raises, shared by every tool so sync, actions and the API can react by type.

Messages never carry credentials or tokens: only method, path, status and the remote error body.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class InvalidCredentials(ConnectorError):
    """The LMS refused the credentials themselves (wrong client id/secret): retrying cannot help."""


class AuthenticationFailed(ConnectorError):
    """A fresh token was still refused by an API call."""


class PermissionMissing(ConnectorError):
    """The credential lacks a scope the call needs."""

    def __init__(self, scope: str | None, message: str = "") -> None:
        self.scope = scope
        what = f"the scope {scope!r}" if scope else "a scope"
        super().__init__(f"the credential is missing {what}" + (f": {message}" if message else ""))


class SetupIncomplete(ConnectorError):
    """The tenant lacks something the connector needs before it can write (e.g. an author for its own
    objects); the message says what to set."""


class RemoteError(ConnectorError):
    """A non-retryable HTTP error answer (4xx other than the cases above), with its status and body."""

    def __init__(self, status: int, code: str | None, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.body = body
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} answered {status}" + (f" ({code})" if code else ""))


class NotFound(RemoteError):
    """404: the remote object does not exist (any more)."""


class HostNotAllowed(ConnectorError):
    """The LMS's host resolves to an address outbound calls may not reach (loopback, private, metadata)
    unless the operator allows it: retrying cannot help."""


class UnexpectedResponse(ConnectorError):
    """A 2xx answer whose shape breaks the API contract (e.g. an object where a list is expected)."""


class RetriesExhausted(ConnectorError):
    """A transient failure (429, 5xx, timeout, dropped connection, bad JSON) outlasted the retry policy."""

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"gave up after {attempts} attempts: {last_error}")
