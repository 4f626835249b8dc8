"""API passthrough: forward one caller request to the tenant's own API with lmsbridge's credentials.

The caller chooses method, path (relative to the API's base path), extra headers, query and body; it
can never choose the host, the credentials or the API version. Validation is pure (``prepare``);
``forward`` makes the one HTTP exchange through the connector (``Connector.passthrough_send``), so the
call shares the company rate budget and the token cache with syncs and actions.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lmsbridge.connectors.base import Connector, PassthroughApi
from lmsbridge.connectors.errors import HostNotAllowed
from lmsbridge.connectors.registry import CONNECTORS

Method = Literal["GET", "POST", "DELETE", "PUT", "PATCH"]


# `{tool}/{api}` pairs we serve: what the connectors declare
PASSTHROUGH_APIS: dict[tuple[str, str], PassthroughApi] = {
    (api.tool, api.api): api for connector in CONNECTORS.values() for api in connector.passthrough_apis
}

MAX_PATH_LENGTH = 2048
# Decoding more layers than this is no longer a plausible path but an attack on a decoder somewhere.
MAX_DECODE_ROUNDS = 4

# Headers the caller may not set: credentials, the host, hop-by-hop headers, framing we compute (and
# each API's own ``reserved_headers``, e.g. an API version the connector pins).
DROPPED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "cookie2",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab (\x09) is allowed inside a value
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class PassthroughBody(BaseModel):
    """The request body of ``POST /passthrough/{tool}/{api}`` (Kombo's shape)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = Field(description="The HTTP method (e.g., `GET`) of the request.")
    path: str = Field(
        description="The path of the endpoint to call, relative to the API's base URL (its prefix on "
        "the integration's host, see the table above), e.g. `users` or `/courses?status[eq]=published`."
    )
    headers: dict[str, str] | None = Field(
        default=None,
        description="Headers to send. Authentication, `Host`, hop-by-hop headers and headers the API "
        "pins (e.g. its version) are set by lmsbridge; caller values for them are dropped (with a warning).",
    )
    params: dict[str, str] | None = Field(
        default=None, description="Query parameters to send in addition to the ones in the `path`."
    )
    data: Any = Field(
        default=None,
        description="The request body: an array or object is sent as JSON, a string is sent raw.",
    )
    response_as_base64: bool = Field(
        default=False, description="Return the response body base64-encoded (binary data)."
    )
    multipart_form_data: list[dict[str, Any]] | None = Field(
        default=None, description="Not supported (the APIs served take JSON bodies)."
    )
    api_options: dict[str, str] | None = Field(
        default=None, description="Adapter options; the APIs served have none (ignored with a warning)."
    )


class PassthroughInputError(ValueError):
    """The caller's request cannot be forwarded safely (becomes PLATFORM.INPUT_INVALID)."""


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A validated request: the path is absolute on the tenant host, under the API's prefix."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    content: bytes | None
    response_as_base64: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PassthroughResult:
    url: str
    status: int
    headers: dict[str, str | list[str]]
    data: Any
    warnings: list[str]


def find_api(tool: str, api: str) -> PassthroughApi:
    known = PASSTHROUGH_APIS.get((tool, api))
    if known is None:
        pairs = ", ".join(f"`{t}/{a}`" for t, a in sorted(PASSTHROUGH_APIS))
        raise PassthroughInputError(f"Unknown passthrough API `{tool}/{api}`; available: {pairs}.")
    return known


def _decoded_forms(text: str) -> list[str]:
    """``text`` and each percent-decoding of it until stable, plus their NFKC forms (a server that
    normalises Unicode would read a fullwidth ``．．`` as ``..``)."""
    forms = [text]
    current = text
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    else:
        if unquote(current) != current:
            raise PassthroughInputError("The path is percent-encoded too many times.")
    return forms + [unicodedata.normalize("NFKC", f) for f in forms]


def normalize_path(api: PassthroughApi, path: str) -> str:
    """The caller's path, checked and resolved under ``api.prefix``.

    Rejected: absolute and scheme-relative URLs, ``.``/``..`` segments, empty segments, backslashes,
    control characters and fragments, in plain form or hidden behind (repeated) percent-encoding.
    """
    if len(path) > MAX_PATH_LENGTH:
        raise PassthroughInputError(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    for form in _decoded_forms(path):
        if _CONTROL.search(form):
            raise PassthroughInputError("The path must not contain control characters (e.g. CR, LF).")
    if "#" in path:
        raise PassthroughInputError("The path must not contain a fragment (`#`).")
    raw_path, _, query = path.partition("?")
    for form in _decoded_forms(raw_path):
        if "\\" in form:
            raise PassthroughInputError("The path must not contain backslashes.")
        if form.startswith("//") or "://" in form or _SCHEME.match(form):
            raise PassthroughInputError(
                f"The path must be relative to the API's base URL ({api.prefix}), not a URL."
            )
        segments = form.strip("/").split("/")
        if any(segment in {".", ".."} for segment in segments):
            raise PassthroughInputError("The path must not contain `.` or `..` segments.")
        if form.strip("/") and any(segment == "" for segment in segments):
            raise PassthroughInputError("The path must not contain empty segments (`//`).")
    resolved = api.prefix + raw_path.lstrip("/")
    return resolved + (f"?{query}" if query else "")


def clean_headers(
    headers: Mapping[str, str] | None, reserved: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Headers safe to forward, and warnings naming those dropped. Injection attempts are errors."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    items = dict(headers or {})
    # names listed in the caller's own Connection header are hop-by-hop as well
    connection = next((v for k, v in items.items() if k.strip().lower() == "connection"), "")
    also_hop = {token.strip().lower() for token in connection.split(",") if token.strip()}
    for name, value in items.items():
        if not _HEADER_NAME.match(name):
            raise PassthroughInputError(f"Invalid header name {name[:40]!r}.")
        if _HEADER_VALUE_BAD.search(value) or not value.isascii():
            raise PassthroughInputError(
                f"The value of header {name!r} contains control or non-ASCII characters."
            )
        lowered = name.lower()
        if lowered in DROPPED_HEADERS or lowered in reserved or lowered in also_hop:
            dropped.append(name)
            continue
        kept[name] = value
    warnings = [
        f"The header `{name}` was dropped: lmsbridge sets it or it is hop-by-hop." for name in dropped
    ]
    return kept, warnings


def _body(data: Any, headers: dict[str, str]) -> bytes | None:
    if data is None:
        return None
    has_type = any(name.lower() == "content-type" for name in headers)
    if isinstance(data, str):
        if not has_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return data.encode()
    if not has_type:
        headers["Content-Type"] = "application/json"
    return json.dumps(data, separators=(",", ":")).encode()


def prepare(tool: str, api_name: str, body: PassthroughBody) -> PreparedRequest:
    """Validate a passthrough request (pure). Raises ``PassthroughInputError``."""
    api = find_api(tool, api_name)
    if body.multipart_form_data:
        raise PassthroughInputError(f"`multipart_form_data` is not supported by `{tool}/{api_name}`.")
    path = normalize_path(api, body.path)
    headers, warnings = clean_headers(body.headers, api.reserved_headers)
    params = dict(body.params or {})
    for name, value in params.items():
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise PassthroughInputError("Query parameters must not contain control characters.")
    if body.api_options:
        warnings.append(f"`api_options` are ignored: `{tool}/{api_name}` has none.")
    content = _body(body.data, headers)
    return PreparedRequest(body.method, path, headers, params, content, body.response_as_base64, warnings)


def _response_headers(response: httpx.Response) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        existing = out.get(key)
        if existing is None:
            out[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            out[key] = [existing, value]
    return out


def response_data(response: httpx.Response, as_base64: bool) -> Any:
    """The remote body as Kombo returns it: JSON value, else text; base64 text when asked."""
    if as_base64:
        return base64.b64encode(response.content).decode("ascii")
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", "").lower():
        try:
            return json.loads(response.content)
        except ValueError:
            pass
    return response.text


async def forward(connector: Connector, api: PassthroughApi, prepared: PreparedRequest) -> PassthroughResult:
    """Send the request through the connector (its authentication, the company budget, its retries for
    an interactive call); any HTTP status is a result.

    Raises ``PassthroughInputError`` when the assembled URL would leave the tenant (defence in depth
    after ``normalize_path``), the connector's errors otherwise (``InvalidCredentials``,
    ``RetriesExhausted``, ``HostNotAllowed`` for a host that is not a public address).
    """
    try:
        url = httpx.URL(connector.passthrough_url(api, prepared.path))
    except HostNotAllowed as exc:
        raise PassthroughInputError("The path does not resolve under the API's base URL.") from exc
    # the caller's params come in addition to the path's own query (Kombo's rule)
    target = str(url.copy_merge_params(prepared.params)) if prepared.params else str(url)
    response = await connector.passthrough_send(
        prepared.method, target, content=prepared.content, headers=dict(prepared.headers)
    )
    return PassthroughResult(
        url=str(response.request.url),
        status=response.status_code,
        headers=_response_headers(response),
        data=response_data(response, prepared.response_as_base64),
        warnings=list(prepared.warnings),
    )
