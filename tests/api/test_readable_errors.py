"""Messages a caller reads: no raw regex for a bad updated_after; secrets a caller put in the URL are
redacted in the interaction log."""

from __future__ import annotations

from api_support import ApiEnv, KomboContract


def test_updated_after_message_is_readable(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    response = api.get("/v1/lms/users", integration_id, updated_after="yesterday")
    body = kombo.check("GetLmsUsers", response)
    assert (response.status_code, body["error"]["code"]) == (400, "PLATFORM.INPUT_INVALID")
    message = body["error"]["message"]
    assert "2022-08-07T14:01:29.196Z" in message
    assert "\\d" not in message and "^" not in message and "pattern" not in message
    # the OpenAPI document still declares Kombo's pattern
    parameters = api.client.get("/v1/openapi.json").json()["paths"]["/v1/lms/users"]["get"]["parameters"]
    declared = next(p for p in parameters if p["name"] == "updated_after")
    assert "pattern" in str(declared["schema"])


def test_secrets_in_the_query_string_are_redacted_in_the_log(api: ApiEnv) -> None:
    leaked = {"key": api.api_key, "api_key": "k-123-secret", "access_token": "t-456-secret", "page_size": "2"}
    response = api.client.get("/v1/lms/users", params=leaked)  # no X-Integration-Id: an error, logged
    assert response.status_code == 400
    log = api.client.get(response.json()["error"]["log_url"])
    assert log.status_code == 200
    for secret in (api.api_key, "k-123-secret", "t-456-secret"):
        assert secret not in log.text
    data = log.json()["data"]
    assert "key=[REDACTED]" in data["url"] and "page_size=2" in data["url"]
