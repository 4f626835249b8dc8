"""An LMS that cannot be reached gives a REMOTE.* error in Kombo's envelope, quickly (the interactive
retry budget), never PLATFORM.UNKNOWN_ERROR."""

from __future__ import annotations

import time

from api_support import ApiEnv

# nothing listens on the discard port: every connection is refused at once
UNREACHABLE = "http://127.0.0.1:9"


def test_scope_test_of_an_unreachable_lms(api: ApiEnv) -> None:
    integration_id = api.integration(base_url=UNREACHABLE)
    started = time.monotonic()
    reply = api.client.post(f"/v1/integrations/{integration_id}/scope-test")
    elapsed = time.monotonic() - started
    body = reply.json()
    assert (reply.status_code, body["error"]["code"]) == (503, "REMOTE.SERVICE_UNAVAILABLE"), body
    assert "could not be reached" in body["error"]["message"]
    assert body["error"]["log_url"].endswith(api.client.get(body["error"]["log_url"]).json()["data"]["id"])
    assert elapsed < 25, elapsed  # Settings.remote_interactive_retry_seconds (20 s), not a sync's budget


def test_passthrough_to_an_unreachable_lms(api: ApiEnv) -> None:
    integration_id = api.integration(base_url=UNREACHABLE)
    reply = api.client.post(
        "/v1/passthrough/360learning/v2",
        json={"method": "GET", "path": "/users"},
        headers={"X-Integration-Id": integration_id},
    )
    body = reply.json()
    # a General operation: Kombo's SDK accepts only PLATFORM codes there; ours leads the message
    assert reply.status_code == 503 and body["error"]["code"] == "PLATFORM.UNKNOWN_ERROR", body
    assert body["error"]["message"].startswith("REMOTE.SERVICE_UNAVAILABLE: ")
