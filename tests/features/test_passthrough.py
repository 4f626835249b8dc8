"""API passthrough end to end: our API on loopback → the sandbox tenant, behind a recorder of requests."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from feature_support import FeatureEnv, KomboContract, add_sandbox_integration
from sqlalchemy import select

from lmsbridge.connectors.budget import BUDGETS
from lmsbridge.features.passthrough import (
    PASSTHROUGH_APIS,
    PassthroughBody,
    PassthroughInputError,
    normalize_path,
    prepare,
)
from lmsbridge.sandbox.learning360.app import build_app
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.generator import generate_tenant
from lmsbridge.sandbox.learning360.testing import RunningSandbox, SandboxControl, serve_app
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import InteractionLog

API = PASSTHROUGH_APIS[("360learning", "v2")]


@dataclass
class Received:
    """Requests that reached the sandbox: (method, path, query, headers)."""

    requests: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def api_calls(self) -> list[tuple[str, str, str, dict[str, str]]]:
        with self.lock:
            return [r for r in self.requests if not r[1].endswith("/oauth2/token")]


class Recorder:
    """ASGI wrapper around the sandbox app that records every API request it receives."""

    def __init__(self, app: Any, received: Received) -> None:
        self.app = app
        self.received = received

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            with self.received.lock:
                self.received.requests.append(
                    (scope["method"], scope["path"], scope["query_string"].decode(), headers)
                )
        await self.app(scope, receive, send)


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def sandbox(received: Received) -> Iterator[RunningSandbox]:
    # overrides the conftest sandbox: the same tenant kind, served behind the recorder
    tenant = generate_tenant(
        seed=29, users=30, courses=10, attempts=120, integrations=2, config=SandboxConfig()
    )
    cred = next(iter(tenant.credentials.values()))
    with serve_app(Recorder(build_app(tenant), received)) as url:
        control = SandboxControl(url)
        try:
            yield RunningSandbox(url, cred.client_id, cred.client_secret, control, tenant)
        finally:
            control.close()


def _logs(env: FeatureEnv) -> list[InteractionLog]:
    with session_scope(env.engine, readonly=True) as session:
        rows = session.scalars(select(InteractionLog).where(InteractionLog.kind == "passthrough"))
        return list(rows)


def test_get_with_params_returns_remote_json(
    env: FeatureEnv, kombo: KomboContract, received: Received
) -> None:
    user = next(u for u in env.sandbox.tenant.users.items if u.get("mail"))
    response = env.passthrough({"method": "GET", "path": "users", "params": {"mail[eq]": user["mail"]}})
    body = kombo.check("PostPassthroughToolApi", response)
    assert response.status_code == 200
    data = body["data"]
    assert data["status"] == 200
    assert [u["_id"] for u in data["data"]] == [user["_id"]]
    assert data["headers"]["content-type"].startswith("application/json")
    assert data["url"].startswith(f"{env.sandbox.base_url}/api/v2/users?")
    method, path, query, headers = received.api_calls()[-1]
    assert (method, path) == ("GET", "/api/v2/users")
    assert "mail%5Beq%5D=" in query or "mail[eq]=" in query
    assert headers["360-api-version"] == "v2.0"


def test_path_query_and_params_are_merged(env: FeatureEnv, received: Received) -> None:
    response = env.passthrough(
        {"method": "GET", "path": "/courses?status[eq]=archived", "params": {"type[eq]": "native"}}
    )
    data = response.json()["data"]
    assert data["status"] == 200
    archived_native = [
        c["_id"]
        for c in env.sandbox.tenant.courses.items
        if c["status"] == "archived" and c["type"] == "native"
    ]
    assert sorted(c["_id"] for c in data["data"]) == sorted(archived_native)
    query = received.api_calls()[-1][2]
    assert "status" in query and "type" in query


def test_post_with_json_body_creates_on_the_tenant(env: FeatureEnv, kombo: KomboContract) -> None:
    root = env.sandbox.control.info()["root_group_id"]
    author = next(u["_id"] for u in env.sandbox.tenant.users.items if u["status"] == "active")
    before = len([i for i in env.sandbox.tenant.integrations.items if i])
    response = env.passthrough(
        {
            "method": "POST",
            "path": "integrations",
            "data": {"externalPlatform": "Passthrough Academy", "groupId": root, "authorId": author},
        }
    )
    body = kombo.check("PostPassthroughToolApi", response)
    assert body["data"]["status"] in {200, 201}, body
    assert len([i for i in env.sandbox.tenant.integrations.items if i]) == before + 1
    created = [
        i
        for i in env.sandbox.tenant.integrations.items
        if i and i["externalPlatform"] == "Passthrough Academy"
    ]
    assert len(created) == 1


def test_remote_404_is_returned_as_data(env: FeatureEnv, kombo: KomboContract) -> None:
    response = env.passthrough({"method": "GET", "path": "users/000000000000000000000000"})
    body = kombo.check("PostPassthroughToolApi", response)
    assert response.status_code == 200
    assert body["data"]["status"] == 404
    assert body["data"]["data"]["error"]["code"] == "userNotFound"
    # the same answer, base64-encoded on request (binary bodies)
    encoded = env.passthrough(
        {"method": "GET", "path": "users/000000000000000000000000", "response_as_base64": True}
    ).json()["data"]
    assert b"userNotFound" in base64.b64decode(encoded["data"])


def test_caller_authorization_and_hop_headers_are_dropped(env: FeatureEnv, received: Received) -> None:
    caller_secret = "caller-token-must-not-travel"
    response = env.passthrough(
        {
            "method": "GET",
            "path": "users",
            "params": {"mail[eq]": "nobody@example.invalid"},
            "headers": {
                "Authorization": f"Bearer {caller_secret}",
                "Cookie": f"session={caller_secret}",
                "Host": "evil.example",
                "Connection": "X-Hop",
                "X-Hop": "hop",
                "360-api-version": "v9",
                "X-Custom": "kept",
            },
        }
    )
    body = response.json()
    assert body["data"]["status"] == 200, body
    _, _, _, headers = received.api_calls()[-1]
    assert headers["authorization"].startswith("Bearer ")
    assert caller_secret not in str(headers)
    assert headers["authorization"].removeprefix("Bearer ") in env.sandbox.tenant.tokens
    assert headers["host"] != "evil.example"
    assert headers["360-api-version"] == "v2.0"
    assert "x-hop" not in headers
    assert headers["x-custom"] == "kept"
    warned = " ".join(w["message"] for w in body["warnings"])
    for name in ("Authorization", "Cookie", "Host", "X-Hop", "360-api-version"):
        assert f"`{name}`" in warned


def test_interaction_is_logged_without_secrets(env: FeatureEnv) -> None:
    caller_secret = "caller-token-must-not-be-logged"
    env.passthrough(
        {
            "method": "GET",
            "path": "users",
            "params": {"mail[eq]": "nobody@example.invalid"},
            "headers": {"Authorization": f"Bearer {caller_secret}", "X-Api-Token": caller_secret},
        }
    )
    logs = _logs(env)
    assert len(logs) == 1
    entry = logs[0]
    assert entry.integration_id == env.integration_id
    assert entry.status_code == 200 and entry.method == "GET"
    text = repr((entry.url, entry.request, entry.response, entry.error))
    tokens = list(env.sandbox.tenant.tokens)
    assert tokens, "the sandbox issued our token"
    for secret in [caller_secret, env.sandbox.client_secret, *tokens]:
        assert secret not in text


HOST_ESCAPES = [
    "https://evil.example/api/v2/users",
    "http://127.0.0.1:1/x",
    "//evil.example/users",
    "/\\evil.example/users",
    "users/../../oauth2/token",
    "../users",
    "./users",
    "users/%2e%2e/%2e%2e/secret",
    "users/%252e%252e/%252e%252e/secret",
    "users%2f..%2f..%2fsecret",
    "%2F%2Fevil.example",
    "users\\..\\..\\secret",
    "users/%5c..%5c..",
    "users\r\nX-Injected: 1",
    "users%0d%0aX-Injected:%201",
    "users%250d%250a",
    "users/\x00",
    "javascript:alert(1)",
    "users#fragment",
    "users//../x",
    "users/\uff0e\uff0e/secret",
]


BAD_HEADERS = [
    {"X-Evil": "a\r\nInjected: yes"},
    {"X-Evil": "a\nb"},
    {"X-Evil\r\nInjected": "yes"},
    {"Bad Name": "x"},
    {"X-Evil": "caf\u00e9"},
]


def test_host_escapes_and_header_injection_are_rejected_before_any_call(
    env: FeatureEnv, kombo: KomboContract, received: Received
) -> None:
    # one server for all attempts: each must be refused by us, none may reach the tenant
    attempts = [{"method": "GET", "path": path} for path in HOST_ESCAPES]
    attempts += [{"method": "GET", "path": "users", "headers": headers} for headers in BAD_HEADERS]
    for attempt in attempts:
        response = env.passthrough(attempt)
        body = kombo.check("PostPassthroughToolApi", response)
        assert response.status_code == 400, attempt
        assert body["error"]["code"] == "PLATFORM.INPUT_INVALID", attempt
    assert received.api_calls() == []
    assert received.requests == []  # not even a token request


def test_unknown_tool_api_or_integration_is_a_clear_error(env: FeatureEnv, kombo: KomboContract) -> None:
    for tool, api in (("360learning", "v1"), ("personio", "personnel")):
        response = env.passthrough({"method": "GET", "path": "users"}, tool=tool, api=api)
        body = kombo.check("PostPassthroughToolApi", response)
        assert body["error"]["code"] == "PLATFORM.INPUT_INVALID"
        assert f"{tool}/{api}" in body["error"]["message"] and "360learning/v2" in body["error"]["message"]
    response = env.client.post(
        "/v1/passthrough/360learning/v2",
        json={"method": "GET", "path": "users"},
        headers={"X-Integration-Id": "360learning:doesnotexist"},
    )
    assert (
        kombo.check("PostPassthroughToolApi", response)["error"]["code"] == "PLATFORM.INTEGRATION_NOT_FOUND"
    )


def test_network_failure_is_remote_service_unavailable(env: FeatureEnv, kombo: KomboContract) -> None:
    env.sandbox.control.set_faults([{"kind": "drop", "route": "GET /api/v2/users"}])
    response = env.passthrough({"method": "GET", "path": "users"})
    body = kombo.check("PostPassthroughToolApi", response)
    assert (response.status_code, body["error"]["code"]) == (503, "PLATFORM.UNKNOWN_ERROR")
    assert body["error"]["message"].startswith("REMOTE.SERVICE_UNAVAILABLE: The LMS could not be reached")
    logged = _logs(env)
    assert len(logged) == 1 and logged[0].error


def test_remote_5xx_is_data_and_post_is_not_retried(env: FeatureEnv, received: Received) -> None:
    env.sandbox.control.set_faults([{"kind": "status", "route": "POST /api/v2/integrations", "status": 503}])
    response = env.passthrough({"method": "POST", "path": "integrations", "data": {"externalPlatform": "X"}})
    assert response.json()["data"]["status"] == 503
    assert [r[:2] for r in received.api_calls()] == [("POST", "/api/v2/integrations")]


def test_a_429_is_answered_and_slows_the_company_budget(env: FeatureEnv, received: Received) -> None:
    env.sandbox.control.set_faults([{"kind": "status", "route": "GET /api/v2/users", "status": 429}])
    # the API server runs in this process: its company budget is the one this registry holds
    budget = BUDGETS.get(f"{env.sandbox.base_url}|{env.sandbox.client_id}")
    throttled_before = budget.counters.throttled
    response = env.passthrough({"method": "GET", "path": "users"})
    assert response.json()["data"]["status"] == 429
    assert [r[:2] for r in received.api_calls()] == [("GET", "/api/v2/users")]  # not retried
    assert budget.counters.throttled == throttled_before + 1  # syncs and actions slow down too


def test_expired_token_is_refreshed_transparently(env: FeatureEnv) -> None:
    first = env.passthrough({"method": "GET", "path": "users", "params": {"mail[eq]": "a@b.invalid"}})
    assert first.json()["data"]["status"] == 200
    env.sandbox.control.revoke_tokens()
    again = env.passthrough({"method": "GET", "path": "users", "params": {"mail[eq]": "a@b.invalid"}})
    assert again.json()["data"]["status"] == 200
    assert env.sandbox.control.counters()["tokens_issued"] == 2


# ---- the validation rules, without HTTP -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("users", "/api/v2/users"),
        ("/users", "/api/v2/users"),
        ("courses/abc/archive", "/api/v2/courses/abc/archive"),
        ("users?mail[eq]=a@b.c", "/api/v2/users?mail[eq]=a@b.c"),
        ("", "/api/v2/"),
        ("courses/stats/", "/api/v2/courses/stats/"),
    ],
)
def test_normalize_path_accepts_relative_paths(path: str, expected: str) -> None:
    assert normalize_path(API, path) == expected


@pytest.mark.parametrize("path", HOST_ESCAPES)
def test_normalize_path_rejects(path: str) -> None:
    with pytest.raises(PassthroughInputError):
        normalize_path(API, path)


def test_prepare_bodies() -> None:
    as_json = prepare("360learning", "v2", PassthroughBody(method="POST", path="x", data={"a": [1]}))
    assert as_json.content == b'{"a":[1]}' and as_json.headers["Content-Type"] == "application/json"
    raw = prepare(
        "360learning",
        "v2",
        PassthroughBody(method="PUT", path="x", data="a=b", headers={"content-type": "text/csv"}),
    )
    assert raw.content == b"a=b" and raw.headers == {"content-type": "text/csv"}
    with pytest.raises(PassthroughInputError, match="multipart"):
        prepare(
            "360learning",
            "v2",
            PassthroughBody(method="POST", path="x", multipart_form_data=[{"name": "f", "value": "v"}]),
        )


def test_refused_credentials_are_an_integration_error(env: FeatureEnv, kombo: KomboContract) -> None:
    bad = add_sandbox_integration(
        env.engine, env.box, env.sandbox, client_id=env.sandbox.client_id, client_secret="0" * 32
    )
    response = env.client.post(
        "/v1/passthrough/360learning/v2",
        json={"method": "GET", "path": "users"},
        headers={"X-Integration-Id": bad},
    )
    body = kombo.check("PostPassthroughToolApi", response)
    assert body["error"]["code"] == "PLATFORM.INPUT_INVALID"
    assert body["error"]["message"].startswith("INTEGRATION.AUTHENTICATION_INVALID: ")
    assert "0" * 32 not in response.text


async def test_assembled_url_must_stay_on_the_tenant() -> None:
    from lmsbridge.connectors.base import StoredConnection
    from lmsbridge.connectors.errors import HostNotAllowed
    from lmsbridge.connectors.learning360.connector import Learning360Connector

    connection = StoredConnection("https://app.360learning.com", {"client_id": "i", "client_secret": "s"}, {})
    async with Learning360Connector.from_connection(connection) as connector:
        assert connector.passthrough_url(API, "/api/v2/users") == "https://app.360learning.com/api/v2/users"
        for resolved in (
            "//evil.example/api/v2/users",
            "//app.360learning.com:444/api/v2/users",
            "/api/v1/users",
            "/api/v2/../v1/users",
        ):
            with pytest.raises(HostNotAllowed):
                connector.passthrough_url(API, resolved)
