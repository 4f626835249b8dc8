"""Async HTTP client for 360Learning API v2: token cache, rate budget, retries, Link-header pagination.

One client per connector instance. Every call goes through ``_call``: token → budget → one HTTP
exchange → classification; transient failures are retried by the single tenacity policy built in
``_retrying``. Secrets (client secret, tokens) never reach logs, exceptions or reprs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from lmsbridge import json_text, logs, metrics
from lmsbridge.connectors.budget import BUDGETS, ApiBudget, BudgetRegistry, CallKind
from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    HostNotAllowed,
    InvalidCredentials,
    NotFound,
    PermissionMissing,
    RemoteError,
    RetriesExhausted,
    UnexpectedResponse,
)
from lmsbridge.connectors.learning360.config import ClientOptions, Learning360Config, RetryPolicy
from lmsbridge.connectors.learning360.scopes import required_scope, scope_from_message
from lmsbridge.netguard import BlockedConnection, GuardedTransport
from lmsbridge.settings import get_settings

log = logging.getLogger(__name__)

API_VERSION_HEADER = "360-api-version"
API_VERSION = "v2.0"
TOKEN_PATH = "/api/v2/oauth2/token"
# A token lives 1 h; used when the answer lacks a usable expires_in.
DEFAULT_TOKEN_SECONDS = 3600.0

T = TypeVar("T")


class _Transient(Exception):
    """A failure worth retrying (never leaves the client: exhausted retries become RetriesExhausted)."""


class _Throttled(_Transient):
    pass


class _ServerError(_Transient):
    pass


class _BadBody(_Transient):
    pass


class _TokenRefused(_Transient):
    """A fresh token was refused too (revoked meanwhile): fetched again after a pause, a few times."""


# Transport failures that a new attempt can fix (timeouts, refused/dropped connections, truncated bodies).
_RETRYABLE_TRANSPORT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)


# Failures that prove the server did not act on the request: safe to retry even a non-idempotent POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Transient, *_RETRYABLE_TRANSPORT))


def _is_retryable_unsent(exc: BaseException) -> bool:
    return isinstance(exc, (_Throttled, *_NOT_SENT))


class _Stop:
    """When to give up: 429s say "slower", not "broken" — the budget slows down and they are retried for
    ``throttled_max_seconds``; any other failure counts toward ``max_attempts`` and ``max_seconds``.
    One instance per call (it counts that call's failures)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0

    def __call__(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        elapsed = state.seconds_since_start or 0.0
        if isinstance(error, _Throttled):
            return elapsed >= self.policy.throttled_max_seconds
        self.failures += 1
        return self.failures >= self.policy.max_attempts or elapsed >= self.policy.max_seconds


class _ThrottleFloor(wait_base):
    """Adds the documented ~1 s pause after a 429 to the jittered backoff."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and isinstance(outcome.exception(), _Throttled):
            return self.seconds
        return 0.0


@dataclass(frozen=True, slots=True)
class LinkedPage:
    """One page of a cursor chain: its items, the URL it came from and the next page's URL (Link
    header; ``None``: the chain is finished)."""

    items: list[dict[str, Any]]
    url: str
    next_url: str | None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    data: Any
    url: str
    # the Link header's rel="next" target, resolved (list endpoints; None on a last page)
    next_url: str | None = None


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float

    def __repr__(self) -> str:  # the token value must never be printed
        return f"_Token(refresh_at={self.refresh_at})"


def next_page_url(response: httpx.Response) -> str | None:
    """The ``Link: <…>; rel="next"`` target, resolved against the answered URL; None on a last page."""
    link = response.links.get("next", {}).get("url")
    return str(response.request.url.join(link)) if link else None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def error_code(body: Any) -> str | None:
    """360Learning error code from either envelope: ``{"error": "x"}`` or ``{"error": {"code": "x"}}``."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return str(error["code"])
    return None


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        return message if isinstance(message, str) else ""
    return ""


def _parse_expires_in(value: Any) -> float:
    """``expires_in`` is declared a number but documented as the string "3600": accept both."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TOKEN_SECONDS
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_SECONDS
    return seconds if seconds > 0 else DEFAULT_TOKEN_SECONDS


def build_retrying(
    policy: RetryPolicy, before_sleep: Callable[[RetryCallState], None], *, idempotent: bool = True
) -> AsyncRetrying:
    """The client's one retry policy: jittered exponential backoff, bounded in attempts and in time.

    A non-idempotent call (POST, PATCH) is retried only when the server surely did not act on it
    (429, connection never made), so a lost answer cannot turn into a duplicate write.
    """
    return AsyncRetrying(
        retry=retry_if_exception(_is_retryable if idempotent else _is_retryable_unsent),
        stop=_Stop(policy),
        wait=wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        + _ThrottleFloor(policy.throttle_wait),
        before_sleep=before_sleep,
        reraise=False,
    )


class Learning360Client:
    """Talks to one 360Learning tenant. Use as ``async with Learning360Client(config) as client``."""

    def __init__(
        self,
        config: Learning360Config,
        *,
        options: ClientOptions | None = None,
        budget: ApiBudget | None = None,
        budgets: BudgetRegistry = BUDGETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = config.base_url
        self._base_origin = _origin(httpx.URL(self.base_url))
        self.options = options or ClientOptions()
        self.budget = budget or budgets.get(config.company_key)
        self._client_id = config.client_id
        self._client_secret = config.client_secret
        self._clock = clock
        allow_private = self.options.allow_private_hosts
        if allow_private is None:
            allow_private = get_settings().allow_private_hosts
        limits = httpx.Limits(max_connections=self.options.max_connections)
        self._http = httpx.AsyncClient(
            timeout=self.options.httpx_timeout(),
            limits=limits,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            # only public addresses, checked at each connection (no DNS rebinding): lmsbridge.netguard
            transport=GuardedTransport(httpx.AsyncHTTPTransport(limits=limits), allow_private=allow_private),
        )
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        # counters of this instance; a sync run records `calls`
        self.calls = 0
        self.token_requests = 0
        self.retries = 0
        self.throttled = 0  # 429 answers

    def __repr__(self) -> str:
        return f"Learning360Client(base_url={self.base_url!r}, calls={self.calls})"

    async def __aenter__(self) -> Learning360Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- public calls -------------------------------------------------------------------------

    async def fetch_token(self) -> None:
        """Get a token now (with retries): proves the credentials; ``InvalidCredentials`` if refused."""
        self._token = None
        await self._retrying(self._access_token)

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Iterable[tuple[str, str]] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """One API call with token, budget and retries. Raises the typed errors of ``connectors.errors``.

        ``idempotent`` defaults to the HTTP method's semantics (GET, HEAD, PUT, DELETE).
        """
        method = method.upper()
        url = self._target(path_or_url)
        kind: CallKind = "read" if method in {"GET", "HEAD"} else "write"
        query = tuple(params) if params is not None else None
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        return await self._retrying(
            lambda: self._call(method, url, query, json_body, kind), idempotent=idempotent
        )

    async def get_json(self, path: str, params: Iterable[tuple[str, str]] | None = None) -> Any:
        return (await self.request("GET", path, params=params)).data

    async def get_page(self, path_or_url: str, params: Iterable[tuple[str, str]] | None = None) -> LinkedPage:
        """One page of a list endpoint; ``next_url`` is the ``Link rel="next"`` target, resolved."""
        response = await self.request("GET", path_or_url, params=params)
        if not isinstance(response.data, list) or not all(isinstance(item, dict) for item in response.data):
            raise UnexpectedResponse(f"GET {httpx.URL(response.url).path} did not answer a list of objects")
        return LinkedPage(items=response.data, url=response.url, next_url=response.next_url)

    async def iter_pages(
        self, path: str, params: Iterable[tuple[str, str]] = (), *, start_url: str | None = None
    ) -> AsyncIterator[LinkedPage]:
        """Every page of a cursor chain, in order; ``start_url`` resumes from a checkpointed next URL."""
        page = await (self.get_page(start_url) if start_url else self.get_page(path, params))
        yield page
        while page.next_url:
            page = await self.get_page(page.next_url)
            yield page

    async def access_token(self) -> str:
        """The cached bearer token, fetched (with retries) when missing or about to expire."""
        return await self._retrying(self._access_token)

    async def send(
        self,
        method: str,
        path_or_url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        """One call through the same path as ``request`` (token, 401 refresh, budget, retries of transport
        failures), answered as is: any HTTP status is a result, not an error. For passthrough, where the
        answer is the caller's data. ``retry`` replaces the client's retry policy for this call."""
        method = method.upper()
        url = self._target(path_or_url)
        kind: CallKind = "read" if method in {"GET", "HEAD"} else "write"
        return await self._retrying(
            lambda: self._exchange(method, url, kind, content=content, headers=headers),
            idempotent=method in IDEMPOTENT_METHODS,
            policy=retry,
        )

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL of a path; an absolute URL (a Link target) must be on the tenant's host,
        so the bearer token is never sent anywhere else."""
        if path_or_url.startswith(("http://", "https://")):
            self._check_host(httpx.URL(path_or_url))
            return path_or_url
        if not path_or_url.startswith("/"):
            raise ValueError("paths start with /")
        return self.base_url + path_or_url

    def _target(self, path_or_url: str) -> httpx.URL:
        return httpx.URL(self.url_for(path_or_url))

    def _check_host(self, url: httpx.URL) -> None:
        if _origin(url) != self._base_origin:
            raise ValueError(f"refusing to call {url.scheme}://{url.host}: not the tenant's host")

    # ---- internals ----------------------------------------------------------------------------

    async def _retrying(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = True,
        policy: RetryPolicy | None = None,
    ) -> T:
        retrying = build_retrying(policy or self.options.retry, self._before_retry, idempotent=idempotent)

        # tenacity awaits only coroutine functions (a lambda returning a coroutine would not be awaited)
        async def run() -> T:
            return await attempt()

        try:
            return await retrying(run)
        except BlockedConnection as exc:
            raise HostNotAllowed(str(exc)) from None
        except RetryError as exc:
            last = exc.last_attempt.exception() or exc
            if isinstance(last, _TokenRefused):
                raise AuthenticationFailed(str(last)) from last
            raise RetriesExhausted(exc.last_attempt.attempt_number, last) from last
        except (_Transient, *_RETRYABLE_TRANSPORT) as exc:
            # a transient failure the policy chose not to retry (a non-idempotent write): for a
            # timeout or dropped connection the write's outcome is unknown
            raise RetriesExhausted(retrying.statistics.get("attempt_number", 1), exc) from exc

    def _before_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        error = state.outcome.exception() if state.outcome else None
        # the reason names method, path and status (never a URL's query or a body); the integration and
        # run ids come from the caller's bound log context
        logs.log_remote_retry(
            reason=f"{type(error).__name__}: {error}" if error is not None else "unknown",
            attempt=state.attempt_number,
            wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
            throttled=isinstance(error, _Throttled),
        )

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        async with self._token_lock:
            # another task may have refreshed while we waited for the lock
            token = self._token
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            self._token = await self._request_token()
            return self._token.value

    def _drop_token(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _request_token(self) -> _Token:
        body = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        # the token endpoint is not documented as rate limited; counting it as a read keeps us safe
        await self.budget.acquire("read")
        self.calls += 1
        self.token_requests += 1
        started = self._clock()
        try:
            response = await self._http.post(self.base_url + TOKEN_PATH, json=body)
        except httpx.HTTPError:
            metrics.count_remote_call("POST", TOKEN_PATH, None)
            raise
        metrics.count_remote_call("POST", TOKEN_PATH, response.status_code)
        data = self._decode(response)
        if response.status_code == 200:
            if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
                raise UnexpectedResponse("the token endpoint answered without access_token")
            lifetime = _parse_expires_in(data.get("expires_in"))
            margin = min(self.options.token_refresh_margin, lifetime / 2)
            return _Token(value=data["access_token"], refresh_at=started + lifetime - margin)
        if response.status_code == 401:
            raise InvalidCredentials(f"360Learning refused the client credentials ({error_code(data)})")
        self._raise_for_status(response, data, "POST", TOKEN_PATH)
        raise UnexpectedResponse(f"the token endpoint answered {response.status_code}")

    async def _call(
        self,
        method: str,
        url: httpx.URL,
        params: tuple[tuple[str, str], ...] | None,
        json_body: Any,
        kind: CallKind,
    ) -> ApiResponse:
        response = await self._exchange(method, url, kind, params=params, json_body=json_body)
        if response.status_code == 401:
            raise _TokenRefused(f"{method} {url.path}: a fresh token was refused too")
        data = self._decode(response)
        self._raise_for_status(response, data, method, url.path)
        answered, next_url = str(response.request.url), next_page_url(response)
        return ApiResponse(response.status_code, response.headers, data, answered, next_url)

    async def _exchange(
        self,
        method: str,
        url: httpx.URL,
        kind: CallKind,
        *,
        params: tuple[tuple[str, str], ...] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Token → budget → one HTTP exchange. A 401 means the token expired or was revoked: it is dropped
        and the call made once more with a fresh one; a second 401 is answered (the token dropped too)."""
        path = url.path
        for refreshed in (False, True):
            token = await self._access_token()
            await self.budget.acquire(kind)
            self.calls += 1
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=httpx.QueryParams(params) if params else None,
                    json=json_body,
                    content=content,
                    headers={
                        **(headers or {}),
                        "Authorization": f"Bearer {token}",
                        API_VERSION_HEADER: API_VERSION,
                    },
                )
            except httpx.HTTPError:
                metrics.count_remote_call(method, path, None)
                raise
            metrics.count_remote_call(method, path, response.status_code)
            log.debug("360learning: %s %s -> %d", method, path, response.status_code)
            if response.status_code == 401:
                self._drop_token(token)
                if not refreshed:
                    continue
            if response.status_code == 429:
                await self.budget.throttled(kind)
            return response
        raise AssertionError("unreachable")

    def _decode(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return json_text.loads(response.content)
        except ValueError as exc:
            if response.status_code < 300 or response.status_code >= 500:
                # a truncated or garbled success body: fetch again
                raise _BadBody(f"invalid JSON in a {response.status_code} answer") from exc
            return response.text[:500]

    def _raise_for_status(self, response: httpx.Response, data: Any, method: str, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        code = error_code(data)
        if status == 429:
            self.throttled += 1
            raise _Throttled(f"{method} {path}: 429 {code or ''}".strip())
        if status >= 500 and code != "bulkAPIDisabled":
            raise _ServerError(f"{method} {path}: {status}")
        if status == 403 and code == "invalid_scope":
            message = _error_message(data)
            raise PermissionMissing(scope_from_message(message) or required_scope(method, path), message)
        if status == 404:
            raise NotFound(status, code, data, method, path)
        raise RemoteError(status, code, data, method, path)
