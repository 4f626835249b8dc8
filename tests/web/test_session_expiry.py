"""The dashboard's session cookie expires: accepted until ``dashboard_session_hours`` have passed since
sign-in, refused after (the signature carries the time it was issued)."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import itsdangerous.timed
import pytest
from fastapi.responses import Response
from starlette.requests import Request

from lmsbridge.web.security import SESSION_COOKIE, WebSecurity, derive_web_key


def _request_with(cookie: str) -> Request:
    header = f"{SESSION_COOKIE}={cookie}".encode()
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", header)]})


def test_a_session_is_refused_once_it_is_older_than_its_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    web = WebSecurity(key=derive_web_key(b"k" * 32), session_seconds=3600, secure_cookies=True)
    response = Response()
    web.start_session(response, "key-id-1")
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getlist("set-cookie"):
        jar.load(header)
    assert jar[SESSION_COOKIE]["secure"] and jar[SESSION_COOKIE]["max-age"] == "3600"
    request = _request_with(jar[SESSION_COOKIE].value)
    issued = time.time()
    assert web.session_key_id(request) == "key-id-1"
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: issued + 3590)
    assert web.session_key_id(request) == "key-id-1"
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: issued + 3602)
    assert web.session_key_id(request) is None
    # a cookie signed with another installation's key is no session either
    other = WebSecurity(key=derive_web_key(b"o" * 32), session_seconds=3600, secure_cookies=True)
    monkeypatch.undo()
    assert other.session_key_id(request) is None
