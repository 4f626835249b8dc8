"""Sessions and CSRF tokens of the web pages, signed with a key derived from the installation key.

The dashboard's session is a signed, expiring, HttpOnly, SameSite=Strict cookie naming the API key that
signed in (checked against the store on every request, so revoking the key ends the session). Its forms
carry the token of a signed CSRF cookie (double submit). The Connect page may be embedded in the
customer's app, where a SameSite=Strict cookie is not sent: its forms carry a token bound to the link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "lmsbridge_session"
CSRF_COOKIE = "lmsbridge_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 24 * 3600


class SignInRequired(Exception):
    """No valid dashboard session: the handler sends the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


class CsrfRejected(Exception):
    """A form arrived without the token this site gave it (forged, or from an expired page)."""


def derive_web_key(installation_key: bytes) -> bytes:
    # a distinct key per purpose: the pages' signatures never double as anything else the key protects
    return hmac.new(installation_key, b"lmsbridge/web/v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class WebSecurity:
    key: bytes
    session_seconds: int
    secure_cookies: bool

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.key, salt=f"lmsbridge-{purpose}")

    # --- the dashboard session ------------------------------------------------------------------

    def session_key_id(self, request: Request) -> str | None:
        """The API key id of a valid, unexpired session cookie (not yet checked against the store)."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            value = self._serializer("session").loads(cookie, max_age=self.session_seconds)
        except BadSignature:
            return None
        key_id = value.get("key_id") if isinstance(value, dict) else None
        return key_id if isinstance(key_id, str) else None

    def start_session(self, response: Response, key_id: str) -> None:
        token = self._serializer("session").dumps({"key_id": key_id})
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.session_seconds,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
            path="/",
        )
        # a new session gets a new CSRF token: one planted before sign-in is worthless after it
        self.set_csrf_cookie(response, secrets.token_urlsafe(32))

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        response.delete_cookie(CSRF_COOKIE, path="/", httponly=True, samesite="strict")

    # --- CSRF of the dashboard's forms (double submit of a signed cookie) -------------------------

    def csrf_from_cookie(self, request: Request) -> str | None:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie:
            return None
        try:
            value = self._serializer("csrf").loads(cookie, max_age=CSRF_MAX_AGE)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def set_csrf_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            self._serializer("csrf").dumps(token),
            max_age=CSRF_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
            path="/",
        )

    def check_csrf(self, request: Request, submitted: object) -> None:
        expected = self.csrf_from_cookie(request)
        if not expected or not isinstance(submitted, str) or not hmac.compare_digest(expected, submitted):
            raise CsrfRejected

    # --- CSRF of the Connect page's forms (bound to the link) ------------------------------------

    def link_csrf(self, link_id: str) -> str:
        return self._serializer("connect-csrf").dumps(link_id)

    def check_link_csrf(self, link_id: str, submitted: object, max_age: int) -> None:
        if not isinstance(submitted, str) or not submitted:
            raise CsrfRejected
        try:
            value = self._serializer("connect-csrf").loads(submitted, max_age=max_age)
        except BadSignature:
            raise CsrfRejected from None
        if value != link_id:
            raise CsrfRejected
