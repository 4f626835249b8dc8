"""Write calls through the client: the write budget, and retries only where no duplicate write can result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lmsbridge.connectors.errors import RetriesExhausted
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.sandbox.learning360.testing import RunningSandbox

MakeClient = Callable[..., Learning360Client]
CREATE = "POST /api/v2/integrations"


async def _new_integration_body(client: Learning360Client, sb: RunningSandbox, name: str) -> dict[str, Any]:
    existing = await client.get_json("/api/v2/integrations")
    return {
        "externalPlatform": name,
        "authorId": existing[0]["authorId"],
        "groupId": sb.control.info()["root_group_id"],
    }


async def test_post_is_not_retried_after_a_server_error(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    body = await _new_integration_body(client, sandbox, "Not Retried")
    sandbox.control.set_faults([{"kind": "status", "status": 503, "route": CREATE, "count": 1}])
    with pytest.raises(RetriesExhausted) as raised:
        await client.request("POST", "/api/v2/integrations", json_body=body)
    assert raised.value.attempts == 1
    assert sandbox.control.counters()["calls"][CREATE] == 1


async def test_post_is_retried_after_429_and_counts_as_write(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    body = await _new_integration_body(client, sandbox, "Retried After 429")
    sandbox.control.set_faults([{"kind": "burst429", "route": CREATE, "count": 1}])
    response = await client.request("POST", "/api/v2/integrations", json_body=body)
    assert response.status == 201 and response.data["externalPlatform"] == "Retried After 429"
    assert sandbox.control.counters()["calls"][CREATE] == 2
    assert client.budget.counters.writes == 2


async def test_put_is_idempotent_and_retried(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    course = (await client.get_json("/api/v2/courses", [("status[eq]", "published")]))[0]
    route = "PUT /api/v2/courses/{courseId}/archive"
    sandbox.control.set_faults([{"kind": "status", "status": 500, "route": route, "count": 1}])
    response = await client.request(
        "PUT", f"/api/v2/courses/{course['_id']}/archive", json_body={"archived": True}
    )
    assert response.data["status"] == "archived"
    assert sandbox.control.counters()["calls"][route] == 2
    restored = await client.request(
        "PUT", f"/api/v2/courses/{course['_id']}/archive", json_body={"archived": False}
    )
    assert restored.data["status"] == "published"
