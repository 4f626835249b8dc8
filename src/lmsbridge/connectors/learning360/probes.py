"""Side-effect-free probes telling, per 360Learning scope, whether the credential has it.

A read probe is a GET whose answer is tiny (a filter no record matches, or an id that cannot exist):
any answer other than 403 ``invalid_scope`` proves the scope. A write probe is a request the server
must reject *after* its scope check and *before* doing anything: an all-zero ObjectId (the epoch,
1970; 360Learning ids carry their creation time, so it names no object) plus a body that breaks the
operation's schema. 403 ``invalid_scope`` ⇒ missing; any other 4xx ⇒ granted; a 2xx from a write
probe would mean the assumption broke (reported, never silent); 5xx, timeouts ⇒ unknown.

The assumption every probe relies on: 360Learning checks the token's scope before it validates the
path or body (the sandbox does: token → version → scope → validation), so a 400/404 can only come
from a request that passed the scope check. Each probe names what it relies on in ``assumption``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lmsbridge.connectors.base import ProbeResult
from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    InvalidCredentials,
    PermissionMissing,
    RemoteError,
    RetriesExhausted,
)
from lmsbridge.connectors.learning360.client import Learning360Client, error_code

# names no object: ObjectIds begin with their creation time, and this one was "created" in 1970
NO_SUCH_ID = "000000000000000000000000"
# a filter value no record can match (".invalid" is a reserved top-level domain)
NO_SUCH_MAIL = "scope-probe@lmsbridge.invalid"
NO_SUCH_PLATFORM = "lmsbridge-scope-probe-does-not-exist"
FAR_FUTURE = "2999-12-31T00:00:00.000Z"


@dataclass(frozen=True, slots=True)
class Probe:
    scope: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    assumption: str = ""

    @property
    def writes(self) -> bool:
        return self.method not in {"GET", "HEAD"}


# what a probe tells (the interface's type: features read it without knowing 360Learning)
ProbeOutcome = ProbeResult


PROBES: tuple[Probe, ...] = (
    Probe(
        "users:read",
        "GET",
        "/api/v2/users",
        (("mail[eq]", NO_SUCH_MAIL),),
        assumption="an e-mail filter on a reserved domain returns an empty page",
    ),
    Probe(
        "courses:read",
        "GET",
        "/api/v2/courses",
        (("modifiedAt[gte]", FAR_FUTURE),),
        assumption="no course was modified after 2999: an empty page",
    ),
    Probe(
        "courseStats:read",
        "GET",
        "/api/v2/courses/stats",
        (("completedAt[gte]", FAR_FUTURE),),
        assumption="no attempt was completed after 2999: an empty page",
    ),
    Probe(
        "integrations:read",
        "GET",
        "/api/v2/integrations",
        (("externalPlatform[eq]", NO_SUCH_PLATFORM),),
        assumption="no integration has this platform name: an empty page",
    ),
    Probe(
        "groups:read",
        "GET",
        f"/api/v2/groups/{NO_SUCH_ID}/roles",
        assumption="the epoch ObjectId names no group: 404 groupNotFound after the scope check",
    ),
    Probe(
        "bulkOperations:read",
        "GET",
        f"/api/v2/bulk/operations/{NO_SUCH_ID}",
        assumption="the epoch ObjectId names no bulk operation: 404 bulkOperationNotFound",
    ),
    Probe(
        "courses:write",
        "PUT",
        f"/api/v2/courses/{NO_SUCH_ID}/archive",
        json_body={"archived": "lmsbridge-scope-probe"},
        assumption="no course has the epoch ObjectId and `archived` must be a boolean: 404 courseNotFound "
        "or 400, both after the scope check; nothing is archived",
    ),
    Probe(
        "integrations:write",
        "PATCH",
        f"/api/v2/integrations/{NO_SUCH_ID}",
        json_body={"externalPlatform": ""},
        assumption="no integration has the epoch ObjectId and an empty `externalPlatform` is invalid: "
        "404 integrationNotFound or 400; nothing is changed",
    ),
    Probe(
        "integrations:bulk",
        "POST",
        f"/api/v2/bulk/integrations/{NO_SUCH_ID}/stats",
        json_body={"input": "lmsbridge-scope-probe"},
        assumption="no integration has the epoch ObjectId and `input` must be an array: 404 "
        "integrationNotFound or 400 invalidInput; no bulk operation is created",
    ),
    # real-time updates (webhook subscriptions): without these, changes arrive with syncs only
    Probe(
        "webhooks:read",
        "GET",
        f"/api/v2/webhooks/subscriptions/{NO_SUCH_ID}",
        assumption="the epoch ObjectId names no subscription: 404 subscriptionNotFound",
    ),
    Probe(
        "webhooks:write",
        "PATCH",
        f"/api/v2/webhooks/subscriptions/{NO_SUCH_ID}",
        json_body={"status": "lmsbridge-scope-probe"},
        assumption="no subscription has the epoch ObjectId and `status` must be active or inactive: 404 "
        "subscriptionNotFound or 400; nothing is changed",
    ),
    Probe(
        "webhookSecrets:read",
        "GET",
        f"/api/v2/webhooks/subscriptions/{NO_SUCH_ID}/secrets",
        assumption="the epoch ObjectId names no subscription: 404 subscriptionNotFound",
    ),
)


def classify(probe: Probe, exc: BaseException | None, status: int | None = None) -> ProbeOutcome:
    """The outcome of one probe from how its request ended (pure: tested without HTTP)."""
    if exc is None:
        if probe.writes:
            # should be impossible (see the module docstring); the scope is there, but say it loudly
            return ProbeOutcome(
                probe.scope,
                "granted",
                f"the write probe unexpectedly succeeded ({status}); assumption broken: {probe.assumption}",
                status,
            )
        return ProbeOutcome(probe.scope, "granted", f"{probe.method} {probe.path} answered {status}", status)
    if isinstance(exc, PermissionMissing):
        named = f" (360Learning named {exc.scope!r})" if exc.scope and exc.scope != probe.scope else ""
        return ProbeOutcome(probe.scope, "missing", f"403 invalid_scope{named}", 403)
    if isinstance(exc, RemoteError):
        code = exc.code or error_code(exc.body)
        label = f"{exc.status}" + (f" {code}" if code else "")
        if 400 <= exc.status < 500:
            return ProbeOutcome(
                probe.scope,
                "granted",
                f"answered {label} after the scope check ({probe.assumption})",
                exc.status,
            )
        return ProbeOutcome(probe.scope, "unknown", f"answered {label}: cannot tell", exc.status)
    if isinstance(exc, RetriesExhausted):
        return ProbeOutcome(probe.scope, "unknown", f"no usable answer: {exc.last_error!r}")
    if isinstance(exc, AuthenticationFailed):
        return ProbeOutcome(probe.scope, "unknown", "the token was refused", 401)
    return ProbeOutcome(probe.scope, "unknown", f"{type(exc).__name__}: {exc}")


async def run_probe(client: Learning360Client, probe: Probe) -> ProbeOutcome:
    """One probe. ``InvalidCredentials`` propagates: without a token no scope can be told."""
    try:
        response = await client.request(
            probe.method, probe.path, params=probe.params or None, json_body=probe.json_body
        )
    except InvalidCredentials:
        raise
    except ConnectorError as exc:
        return classify(probe, exc)
    return classify(probe, None, response.status)


async def run_probes(
    client: Learning360Client, probes: Sequence[Probe] = PROBES, *, concurrency: int = 3
) -> list[ProbeOutcome]:
    """Every probe (a few at a time, under the company budget), in the order given."""
    await client.fetch_token()  # one token for all probes; raises InvalidCredentials
    limit = asyncio.Semaphore(concurrency)

    async def one(probe: Probe) -> ProbeOutcome:
        async with limit:
            return await run_probe(client, probe)

    return list(await asyncio.gather(*(one(p) for p in probes)))
