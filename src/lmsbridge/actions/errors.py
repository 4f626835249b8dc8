"""Action failures as Kombo error codes: what the API raises, and what a task stores as its error."""

from __future__ import annotations

from typing import Any

from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InvalidCredentials,
    PermissionMissing,
    RemoteError,
    RetriesExhausted,
    SetupIncomplete,
)
from lmsbridge.connectors.writes import WriteActions
from lmsbridge.unified.errors import ERROR_KINDS


class ActionError(Exception):
    """A refused or failed action with its Kombo code; the API turns it into the error envelope."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # None: the code's documented status (api.errors.ERROR_KINDS)
        self.status = status


def error_body(code: str, message: str, log_url: str | None = None) -> dict[str, Any]:
    """Kombo's ``{code, title, message, log_url}`` (task and task-item errors)."""
    kind = ERROR_KINDS.get(code)
    return {"code": code, "title": kind.title if kind else None, "message": message, "log_url": log_url}


def is_transient(exc: BaseException, writer: WriteActions | None = None) -> bool:
    """Worth trying again later (throttled, 5xx, timeouts, the LMS busy): the task is rescheduled."""
    if isinstance(exc, RetriesExhausted):
        return True
    return writer is not None and writer.is_transient(exc)


def from_connector(exc: BaseException, writer: WriteActions | None = None) -> ActionError:
    """The Kombo code for a connector failure (messages carry no secrets, see connectors.errors)."""
    if isinstance(exc, ActionError):
        return exc
    explained = writer.explain(exc) if writer is not None else None
    if explained is not None:
        return ActionError(*explained)
    lms = writer.label if writer is not None else "The LMS"
    if isinstance(exc, SetupIncomplete):
        return ActionError("INTEGRATION.SETUP_INCOMPLETE", str(exc))
    if isinstance(exc, PermissionMissing):
        return ActionError("INTEGRATION.PERMISSION_MISSING", str(exc))
    if isinstance(exc, InvalidCredentials | AuthenticationFailed):
        return ActionError("INTEGRATION.AUTHENTICATION_INVALID", f"{lms} refused the credentials: {exc}")
    if isinstance(exc, RetriesExhausted):
        return ActionError("REMOTE.SERVICE_UNAVAILABLE", f"{lms} did not answer successfully: {exc}")
    if isinstance(exc, RemoteError):
        if exc.status == 400:
            return ActionError("REMOTE.INPUT_INVALID", f"{lms} rejected the request: {exc}")
        return ActionError("REMOTE.UNKNOWN_HTTP_ERROR", str(exc))
    if isinstance(exc, ConnectorError):
        return ActionError("REMOTE.UNKNOWN_HTTP_ERROR", str(exc))
    return ActionError("PLATFORM.UNKNOWN_ERROR", f"unexpected {type(exc).__name__}")
