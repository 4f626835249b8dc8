"""The 360Learning client against the sandbox: tokens, errors, retries, throttling, pagination."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_clients import FAST_OPTIONS, FAST_RETRY, PAGE_SIZES, config_for

from lmsbridge.connectors.errors import (
    AuthenticationFailed,
    InvalidCredentials,
    NotFound,
    PermissionMissing,
    RemoteError,
    RetriesExhausted,
)
from lmsbridge.connectors.learning360.client import Learning360Client, next_page_url
from lmsbridge.connectors.learning360.config import ClientOptions, RetryPolicy
from lmsbridge.connectors.learning360.query import encode_filters
from lmsbridge.sandbox.learning360.testing import RunningSandbox

USERS = "/api/v2/users"
MakeClient = Callable[..., Learning360Client]


def _calls(sb: RunningSandbox, route: str) -> int:
    return int(sb.control.counters()["calls"].get(route, 0))


async def _all_user_ids(client: Learning360Client, params: Any = ()) -> list[str]:
    return [item["_id"] async for page in client.iter_pages(USERS, params) for item in page.items]


def _tenant_user_ids(sb: RunningSandbox, status: str | None = None) -> list[str]:
    users = sb.tenant.users
    return sorted(uid for uid, u in zip(users.ids, users.items, strict=True) if status in (None, u["status"]))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- tokens ---------------------------------------------------------------------------------------


async def test_token_is_cached_and_sent_with_version_header(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    for _ in range(3):
        await client.get_json(USERS)
    counters = sandbox.control.counters()
    assert counters["tokens_issued"] == 1
    # a missing 360-api-version header would have been refused; three answers came back
    assert counters["calls"]["GET /api/v2/users"] == 3
    assert client.calls == 4 and client.token_requests == 1


async def test_concurrent_first_calls_share_one_token_request(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    await asyncio.gather(*(client.get_json(USERS) for _ in range(8)))
    assert sandbox.control.counters()["tokens_issued"] == 1
    assert client.token_requests == 1


async def test_token_refreshed_before_expiry_with_expires_in_as_string(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    sandbox.control.configure(token_lifetime_s=300, expires_in_as_string=True)
    clock = FakeClock()
    client = make_client(clock=clock)
    await client.get_json(USERS)
    clock.now += 300 - 61  # still valid for 61 s: more than the 60 s margin
    await client.get_json(USERS)
    assert sandbox.control.counters()["tokens_issued"] == 1
    clock.now += 2  # now inside the margin: refresh proactively, no 401 round trip
    await client.get_json(USERS)
    counters = sandbox.control.counters()
    assert counters["tokens_issued"] == 2
    assert counters["calls"]["GET /api/v2/users"] == 3


async def test_expired_token_on_the_server_is_refreshed_once(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    await client.get_json(USERS)
    # the sandbox clock moves past the token's life; the client's own clock does not
    sandbox.control.advance_clock(3601)
    users = await client.get_json(USERS)
    assert len(users) == PAGE_SIZES["users"]
    counters = sandbox.control.counters()
    assert counters["tokens_issued"] == 2
    assert counters["calls"]["GET /api/v2/users"] == 3  # 200, 401, 200


async def test_revoked_token_is_refreshed(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    await client.get_json(USERS)
    sandbox.control.revoke_tokens()
    await client.get_json(USERS)
    assert sandbox.control.counters()["tokens_issued"] == 2


async def test_token_refused_on_every_call_fails_after_the_retry_policy(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    """Each round: the call, a 401, a fresh token, a 401 again; after the policy's attempts it is over."""
    sandbox.control.set_faults([{"kind": "revoke_tokens", "route": "GET /api/v2/users"}])
    client = make_client()
    with pytest.raises(AuthenticationFailed):
        await client.get_json(USERS)
    counters = sandbox.control.counters()
    rounds = FAST_OPTIONS.retry.max_attempts
    assert counters["calls"]["GET /api/v2/users"] == 2 * rounds
    assert counters["tokens_issued"] == 2 * rounds


async def test_a_few_token_revocations_do_not_end_a_call(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    """A token revoked twice in a row (e.g. rotated by an admin) is fetched again after a pause."""
    sandbox.control.set_faults([{"kind": "revoke_tokens", "route": "GET /api/v2/users", "count": 3}])
    client = make_client()
    users = await client.get_json(USERS)
    assert isinstance(users, list) and users
    counters = sandbox.control.counters()
    assert counters["calls"]["GET /api/v2/users"] == 4  # three refused, then answered
    assert counters["tokens_issued"] == 4


async def test_wrong_secret_is_invalid_credentials_without_retries(sandbox: RunningSandbox) -> None:
    config = config_for(sandbox, client_secret="not-the-secret")
    async with Learning360Client(config, options=FAST_OPTIONS) as client:
        with pytest.raises(InvalidCredentials) as raised:
            await client.fetch_token()
    assert "not-the-secret" not in str(raised.value)
    assert sandbox.control.counters()["calls"]["POST /api/v2/oauth2/token"] == 1


def test_secret_never_in_repr(sandbox: RunningSandbox) -> None:
    config = config_for(sandbox)
    assert sandbox.client_secret not in repr(config)
    assert sandbox.client_secret not in str(config.model_dump())


# ---- errors --------------------------------------------------------------------------------------


async def test_missing_scope_names_the_scope(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    scopes = [s for s in sandbox.control.create_credential()["scopes"] if s != "courseStats:read"]
    sandbox.control.set_scopes(sandbox.client_id, scopes)
    client = make_client()
    await client.get_json(USERS)
    with pytest.raises(PermissionMissing) as raised:
        await client.get_json("/api/v2/courses/stats")
    assert raised.value.scope == "courseStats:read"
    assert _calls(sandbox, "GET /api/v2/courses/stats") == 1


async def test_not_found_and_other_4xx_are_typed(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(NotFound) as missing:
        await client.get_json("/api/v2/users/" + "0" * 24)
    assert (missing.value.status, missing.value.code) == (404, "userNotFound")
    with pytest.raises(RemoteError) as bad:
        await client.get_json("/api/v2/users/not-an-object-id")
    assert bad.value.status == 400 and not isinstance(bad.value, NotFound)
    assert bad.value.body is not None
    # neither is retried
    assert _calls(sandbox, "GET /api/v2/users/{userId}") == 2


# ---- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 500},
        {"kind": "truncate"},
        {"kind": "drop"},
        {"kind": "hang", "hang_seconds": 3.0},
    ],
    ids=["503", "500", "truncated-json", "dropped-connection", "hang"],
)
async def test_transient_faults_are_retried_to_the_right_data(
    sandbox: RunningSandbox, make_client: MakeClient, fault: dict[str, Any]
) -> None:
    expected = _tenant_user_ids(sandbox)
    sandbox.control.set_faults([{**fault, "route": "GET /api/v2/users", "count": 2, "after": 1}])
    client = make_client()
    ids = await _all_user_ids(client)
    assert sorted(ids) == expected and len(ids) == len(set(ids))
    assert client.retries == 2
    pages = math.ceil(len(expected) / PAGE_SIZES["users"])
    assert _calls(sandbox, "GET /api/v2/users") == pages + 2


async def test_retries_are_bounded(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    sandbox.control.set_faults([{"kind": "status", "status": 502, "route": "GET /api/v2/users"}])
    options = ClientOptions(
        read_timeout=1.0, retry=RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.02)
    )
    client = make_client(options=options)
    with pytest.raises(RetriesExhausted) as raised:
        await client.get_json(USERS)
    assert raised.value.attempts == 3
    assert _calls(sandbox, "GET /api/v2/users") == 3


async def test_retries_stop_at_the_time_bound(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    sandbox.control.set_faults([{"kind": "status", "status": 503, "route": "GET /api/v2/users"}])
    policy = RetryPolicy(
        max_attempts=1000, max_seconds=0.5, initial_wait=0.05, max_wait=0.1, throttle_wait=0.0
    )
    client = make_client(options=ClientOptions(read_timeout=1.0, retry=policy))
    started = time.monotonic()
    with pytest.raises(RetriesExhausted):
        await client.get_json(USERS)
    assert time.monotonic() - started < 2.0
    assert _calls(sandbox, "GET /api/v2/users") < 1000


async def test_429_waits_and_is_counted(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    sandbox.control.set_faults([{"kind": "burst429", "route": "GET /api/v2/users", "count": 3}])
    client = make_client()
    started = time.monotonic()
    users = await client.get_json(USERS)
    assert len(users) == PAGE_SIZES["users"]
    assert client.budget.counters.throttled == 3
    # each 429 is followed by at least the documented pause (shrunk for the test)
    assert time.monotonic() - started >= 3 * FAST_RETRY.throttle_wait
    assert sandbox.control.counters()["too_many_requests"] == 3


# ---- pagination ----------------------------------------------------------------------------------


async def test_every_page_exactly_once_with_filters(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    expected = _tenant_user_ids(sandbox, "active")
    assert len(expected) > PAGE_SIZES["users"]  # several pages
    client = make_client()
    pages = [page async for page in client.iter_pages(USERS, encode_filters({"status": {"eq": "active"}}))]
    ids = [item["_id"] for page in pages for item in page.items]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == expected
    assert all(u["status"] == "active" for page in pages for u in page.items)
    assert len(pages) == math.ceil(len(expected) / PAGE_SIZES["users"])
    assert pages[-1].next_url is None and all(p.next_url for p in pages[:-1])
    assert _calls(sandbox, "GET /api/v2/users") == len(pages)


async def test_resume_from_a_checkpointed_next_url(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    first = make_client()
    pages = [page async for page in first.iter_pages(USERS)]
    checkpoint = pages[1].next_url
    assert checkpoint is not None
    # a new client (a restarted process) continues from the stored URL
    resumed = [page async for page in make_client().iter_pages(USERS, start_url=checkpoint)]
    assert [p.items for p in resumed] == [p.items for p in pages[2:]]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://h.example/api/v2/users?next=a,b>; rel="next"', "https://h.example/api/v2/users?next=a,b"),
        ('<my/resource/url>; rel="next"', "https://h.example/api/v2/courses/my/resource/url"),
        ("<?page=2>; rel=next", "https://h.example/api/v2/courses/stats?page=2"),
        (
            '<https://h.example/x?p=1>; rel="prev", <https://h.example/x?p=3>; rel="next"',
            "https://h.example/x?p=3",
        ),
        ('<https://h.example/x?p=1>; rel="prev"', None),
        (None, None),
    ],
)
def test_the_next_page_is_the_link_headers_next_target(header: str | None, expected: str | None) -> None:
    answered = httpx.Request("GET", "https://h.example/api/v2/courses/stats?courseId%5Bin%5D=a&after=x")
    headers = {"link": header} if header is not None else {}
    assert next_page_url(httpx.Response(200, headers=headers, request=answered)) == expected


async def test_token_is_never_sent_to_another_host(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="not the tenant's host"):
        await client.get_page("http://example.com/api/v2/users?next=x")
    assert client.calls == 0
