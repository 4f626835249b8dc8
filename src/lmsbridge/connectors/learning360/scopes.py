"""Which 360Learning scope each endpoint the connector calls needs (per the vendor's operation docs)."""

from __future__ import annotations

import re

# (method, path pattern) → scope; patterns are matched against the path without the query.
_ENDPOINT_SCOPES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), scope)
    for method, pattern, scope in (
        ("GET", r"^/api/v2/users(/[^/]+)?$", "users:read"),
        ("GET", r"^/api/v2/courses/stats$", "courseStats:read"),
        ("GET", r"^/api/v2/courses(/[^/]+)?$", "courses:read"),
        ("PUT", r"^/api/v2/courses/[^/]+/archive$", "courses:write"),
        ("GET", r"^/api/v2/integrations(/.*)?$", "integrations:read"),
        ("POST", r"^/api/v2/integrations$", "integrations:write"),
        ("PATCH", r"^/api/v2/integrations/[^/]+$", "integrations:write"),
        ("DELETE", r"^/api/v2/integrations/[^/]+$", "integrations:write"),
        ("PUT", r"^/api/v2/bulk/integrations/[^/]+/courses$", "integrations:bulk"),
        ("DELETE", r"^/api/v2/bulk/integrations/[^/]+/courses$", "integrations:bulk"),
        ("POST", r"^/api/v2/bulk/integrations/[^/]+/stats$", "integrations:bulk"),
        ("GET", r"^/api/v2/bulk/operations(/.*)?$", "bulkOperations:read"),
        ("GET", r"^/api/v2/groups(/.*)?$", "groups:read"),
        # webhook subscriptions (real-time updates)
        ("GET", r"^/api/v2/webhooks/subscriptions/[^/]+/secrets$", "webhookSecrets:read"),
        ("POST", r"^/api/v2/webhooks/subscriptions/[^/]+/secrets/rotate$", "webhookSecrets:write"),
        ("GET", r"^/api/v2/webhooks/subscriptions(/.*)?$", "webhooks:read"),
        ("POST", r"^/api/v2/webhooks/subscriptions$", "webhooks:write"),
        ("PATCH", r"^/api/v2/webhooks/subscriptions/[^/]+$", "webhooks:write"),
        ("DELETE", r"^/api/v2/webhooks/subscriptions/[^/]+$", "webhooks:write"),
    )
)

_SCOPE_IN_TEXT = re.compile(r"\b([A-Za-z]+:(?:read|write|bulk))\b")


def required_scope(method: str, path: str) -> str | None:
    """The scope the endpoint needs, or None for an endpoint this table does not know."""
    for known_method, pattern, scope in _ENDPOINT_SCOPES:
        if known_method == method.upper() and pattern.match(path):
            return scope
    return None


def scope_from_message(message: str) -> str | None:
    """A ``resource:action`` scope named in an error message, if any."""
    match = _SCOPE_IN_TEXT.search(message)
    return match.group(1) if match else None
