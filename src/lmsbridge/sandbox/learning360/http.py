"""Request plumbing shared by the API routes: auth, version header, scopes, errors, Link pagination."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lmsbridge.sandbox.learning360.errors import ApiError, bad_request, json_response
from lmsbridge.sandbox.learning360.oid import is_object_id
from lmsbridge.sandbox.learning360.query import FieldSpec, Filters, decode_next, encode_next, parse_filters
from lmsbridge.sandbox.learning360.tenant import Tenant

Handler = Callable[[Request], Awaitable[Response]]
# A page source: (filters, key of the last record already served or None, page size)
#   → (rows, key to resume after, or None when this is the last page).
PageSource = Callable[[Filters, str | None, int], tuple[list[dict[str, Any]], str | None]]


def tenant_of(request: Request) -> Tenant:
    tenant: Tenant = request.app.state.tenant
    return tenant


def authorize(request: Request, scope: str) -> None:
    """401 invalid_token (flat), then a wrong API version, then 403 invalid_scope (nested)."""
    tenant = tenant_of(request)
    header = request.headers.get("authorization", "")
    token = tenant.tokens.get(header[7:].strip()) if header[:7].lower() == "bearer " else None
    if token is None or token.revoked or token.expires_ms <= tenant.now_ms():
        raise ApiError(401, "invalid_token", flat=True)
    if request.headers.get("360-api-version") != "v2.0":
        raise ApiError(
            tenant.config.version_error_status,
            "invalidApiVersion",
            "The '360-api-version' header is required and must be 'v2.0'.",
        )
    if scope not in token.credential.scopes:
        raise ApiError(403, "invalid_scope", f"This request requires the OAuth scope '{scope}'.")


def endpoint(scope: str) -> Callable[[Handler], Handler]:
    """Wrap a route: authorize it for `scope` and turn ApiError into the vendor's error body."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: Request) -> Response:
            try:
                authorize(request, scope)
                return await handler(request)
            except ApiError as exc:
                return exc.response()

        return wrapped

    return decorate


def path_id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not is_object_id(value):
        raise bad_request(f"'{name}' must be an ObjectId.")
    return value.lower()


def base_url(request: Request) -> str:
    configured = tenant_of(request).config.public_base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


async def json_body(request: Request) -> Any:
    import json

    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None


def paginate(
    request: Request, route: str, page_key: str, fields: dict[str, FieldSpec], source: PageSource
) -> Response:
    """Serve one page as a bare array with `Link: <…?next=…>; rel="next"` only when more rows remain."""
    tenant = tenant_of(request)
    token = request.query_params.get("next")
    if token is not None:
        # The token carries the filters; other query parameters are ignored (guess, see docs).
        filters, after = decode_next(tenant.pagination_secret, route, token)
    else:
        filters, after = parse_filters(request.query_params.multi_items(), fields), None
    size = tenant.config.page_sizes[page_key]
    rows, resume_after = source(filters, after, size)
    headers = None
    if resume_after is not None:
        nxt = encode_next(tenant.pagination_secret, route, filters, resume_after)
        headers = {"Link": f'<{base_url(request)}{request.url.path}?next={nxt}>; rel="next"'}
    return json_response(rows, 200, headers)
