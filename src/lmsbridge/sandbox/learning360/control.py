"""The control API under `/_sandbox/...`: what tests and benchmarks use to steer the simulated tenant.

No auth (the sandbox only listens on loopback). Bodies and replies are plain JSON; errors are
`{"detail": "..."}` with 400/404 so they can never be mistaken for a 360Learning reply.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360.attempts import NONE, NewAttempt
from lmsbridge.sandbox.learning360.http import base_url, tenant_of
from lmsbridge.sandbox.learning360.timefmt import iso, parse_iso
from lmsbridge.sandbox.learning360.traffic import FAULT_KINDS, FaultRule, Traffic
from lmsbridge.sandbox.learning360.vocab import ALL_SCOPES, COURSE_STATUSES


class ControlError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def traffic_of(request: Request) -> Traffic:
    traffic: Traffic = request.app.state.traffic
    return traffic


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def control(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            result = await handler(request)
        except ControlError as exc:
            return JSONResponse({"detail": exc.detail}, exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"detail": f"bad request: {exc!r}"}, 400)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return wrapped


def _ms(value: Any, default: int) -> int:
    if value is None:
        return default
    ms = parse_iso(str(value))
    if ms is None:
        raise ControlError(400, f"bad date {value!r}")
    return ms


# ---- info, config, clock, credentials, traffic --------------------------------------------------


@control
async def info(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    cred = next(iter(t.credentials.values()))
    return {
        "base_url": base_url(request),
        "client_id": cred.client_id,
        "client_secret": cred.client_secret,
        "company_id": t.company_id,
        "root_group_id": t.root_group_id,
        "seed": t.seed,
        "now": t.now_iso(),
        "counts": {
            "users": len(t.users),
            "courses": len(t.courses),
            "attempts": len(t.attempts),
            "groups": len(t.groups),
            "integrations": sum(1 for i in t.integrations.items if i is not None),
        },
    }


@control
async def config(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    if request.method == "PATCH":
        unknown = t.config.update(await body_of(request))
        if unknown:
            raise ControlError(400, f"unknown settings: {unknown}")
    return t.config.as_dict()


@control
async def clock(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    if request.method == "POST":
        t.clock.advance(float((await body_of(request))["seconds"]))
    now = t.now_ms()
    return {"now": iso(now), "now_ms": now}


@control
async def create_credential(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    body = await body_of(request)
    cred = t.add_credential(body.get("client_id"), body.get("client_secret"))
    if "scopes" in body:
        cred.scopes = set(body["scopes"])
    return {"client_id": cred.client_id, "client_secret": cred.client_secret, "scopes": sorted(cred.scopes)}


@control
async def set_scopes(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    cred = t.credentials.get(request.path_params["client_id"])
    if cred is None:
        raise ControlError(404, "unknown client_id")
    scopes = (await body_of(request))["scopes"]
    cred.scopes = set(ALL_SCOPES) if scopes == "all" else set(scopes)
    return {"client_id": cred.client_id, "scopes": sorted(cred.scopes)}


@control
async def revoke_tokens(request: Request) -> dict[str, Any]:
    return {"revoked": tenant_of(request).revoke_tokens()}


@control
async def faults(request: Request) -> dict[str, Any]:
    traffic = traffic_of(request)
    if request.method == "DELETE":
        traffic.set_faults([])
    elif request.method == "PUT":
        body = await body_of(request)
        rules = []
        for raw in body.get("rules", []):
            rule = FaultRule(**{k: v for k, v in raw.items() if k not in ("fired", "seen")})
            if rule.kind not in FAULT_KINDS:
                raise ControlError(400, f"unknown fault kind {rule.kind!r}; known: {FAULT_KINDS}")
            rules.append(rule)
        traffic.set_faults(rules, body.get("seed"))
    return {"rules": [r.__dict__ for r in traffic.rules]}


@control
async def counters(request: Request) -> dict[str, Any]:
    traffic = traffic_of(request)
    if request.method == "DELETE":
        traffic.reset_counters()
    return traffic.counters.as_dict()


# ---- tenant mutations ---------------------------------------------------------------------------


def _user(request: Request) -> dict[str, Any]:
    user = tenant_of(request).users.get(request.path_params["user_id"])
    if user is None:
        raise ControlError(404, "unknown user")
    return user


@control
async def create_user(request: Request) -> dict[str, Any]:
    return tenant_of(request).create_user(await body_of(request))


@control
async def user_ops(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    user = _user(request)
    if request.method == "PATCH":
        return t.update_user(user, await body_of(request))
    if request.method == "DELETE":
        return t.delete_user(user)
    return user


@control
async def reactivate_user(request: Request) -> dict[str, Any]:
    return tenant_of(request).reactivate_user(_user(request))


def _course_row(request: Request) -> int:
    row = tenant_of(request).course_row(request.path_params["course_id"])
    if row is None:
        raise ControlError(404, "unknown course")
    return row


@control
async def create_course(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    body = await body_of(request)
    author = body.pop("authorId", t.users.ids[0])
    dto = {
        "name": "New course",
        "sourceLang": "en",
        "defaultLang": "en",
        "authorId": author,
        "coAuthorIds": [],
        "groupId": t.root_group_id,
        "status": "published",
        "type": "native",
        "translations": [],
        "currentVersionNumber": 1,
        **body,
    }
    return t.courses.items[t.add_course(dto)]


@control
async def course_ops(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    row = _course_row(request)
    if request.method == "PATCH":
        return t.edit_course(row, await body_of(request))
    if request.method == "DELETE":
        t.courses.items[row]["status"] = "deleted"
    return t.courses.items[row]


@control
async def course_status(request: Request) -> dict[str, Any]:
    """Archive / restore / delete without touching `modifiedAt` (as 360Learning does)."""
    t = tenant_of(request)
    row = _course_row(request)
    status = (await body_of(request))["status"]
    if status not in COURSE_STATUSES:
        raise ControlError(400, f"status must be one of {COURSE_STATUSES}")
    t.courses.items[row]["status"] = status
    return t.courses.items[row]


@control
async def create_attempt(request: Request) -> dict[str, Any]:
    """A new attempt (also a retake when the pair already has one)."""
    t = tenant_of(request)
    body = await body_of(request)
    course, user = t.course_row(body["courseId"]), t.user_row(body["userId"])
    if course is None or user is None:
        raise ControlError(404, "unknown courseId or userId")
    now = t.now_ms()
    first = _ms(body.get("firstActivityAt"), now)
    last = max(first, _ms(body.get("lastActivityAt"), first))
    progress = int(body.get("progress", 0))
    row = t.add_attempt(
        NewAttempt(
            course=course,
            user=user,
            lang=t.lang_index(body.get("lang", t.courses.items[course]["defaultLang"])),
            progress=progress,
            time_spent=int(body.get("timeSpent", 1)),
            first_ms=first,
            last_ms=last,
            completed_ms=last if progress == 100 else NONE,
            score=int(body["score"]) if body.get("score") is not None else NONE,
            version=t.courses.items[course].get("currentVersionNumber", NONE),
        )
    )
    return t.render_attempt(row)


@control
async def attempt_ops(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    row = t.attempts.row_of(request.path_params["attempt_id"].lower())
    if row is None:
        raise ControlError(404, "unknown attempt")
    if request.method == "PATCH":
        body = await body_of(request)
        last = _ms(body.get("lastActivityAt"), t.now_ms())
        t.update_attempt(
            row,
            progress=body.get("progress"),
            time_spent=body.get("timeSpent"),
            score=body.get("score"),
            last_ms=last,
        )
    return t.render_attempt(row)


@control
async def integration_inactive(request: Request) -> dict[str, Any]:
    t = tenant_of(request)
    integration_id = request.path_params["integration_id"].lower()
    if t.integrations.get(integration_id) is None:
        raise ControlError(404, "unknown integration")
    inactive = bool((await body_of(request))["inactive"])
    (t.inactive_integrations.add if inactive else t.inactive_integrations.discard)(integration_id)
    return {"integrationId": integration_id, "inactive": inactive}


ROUTES = [
    Route("/_sandbox/info", info, methods=["GET"]),
    Route("/_sandbox/config", config, methods=["GET", "PATCH"]),
    Route("/_sandbox/clock", clock, methods=["GET"]),
    Route("/_sandbox/clock/advance", clock, methods=["POST"]),
    Route("/_sandbox/credentials", create_credential, methods=["POST"]),
    Route("/_sandbox/credentials/{client_id}/scopes", set_scopes, methods=["PUT"]),
    Route("/_sandbox/tokens/revoke", revoke_tokens, methods=["POST"]),
    Route("/_sandbox/faults", faults, methods=["GET", "PUT", "DELETE"]),
    Route("/_sandbox/counters", counters, methods=["GET", "DELETE"]),
    Route("/_sandbox/users", create_user, methods=["POST"]),
    Route("/_sandbox/users/{user_id}", user_ops, methods=["GET", "PATCH", "DELETE"]),
    Route("/_sandbox/users/{user_id}/reactivate", reactivate_user, methods=["POST"]),
    Route("/_sandbox/courses", create_course, methods=["POST"]),
    Route("/_sandbox/courses/{course_id}", course_ops, methods=["GET", "PATCH", "DELETE"]),
    Route("/_sandbox/courses/{course_id}/status", course_status, methods=["PUT"]),
    Route("/_sandbox/attempts", create_attempt, methods=["POST"]),
    Route("/_sandbox/attempts/{attempt_id}", attempt_ops, methods=["GET", "PATCH"]),
    Route("/_sandbox/integrations/{integration_id}/inactive", integration_inactive, methods=["PUT"]),
]
