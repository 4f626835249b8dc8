"""Every error's ``log_url`` resolves to the logged interaction (``GET /v1/logs/{id}``), secrets redacted."""

from __future__ import annotations

import httpx
from api_support import ApiEnv, KomboContract


def test_error_log_url_resolves(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    response = api.get("/v1/lms/users", integration_id, page_size=999)
    body = kombo.check("GetLmsUsers", response)
    log_url = body["error"]["log_url"]
    assert log_url.startswith(f"{api.base_url}/v1/logs/")
    log = api.client.get(log_url)
    assert log.status_code == 200
    data = log.json()["data"]
    assert (data["kind"], data["method"], data["status_code"]) == ("api", "GET", 400)
    assert data["integration_id"] == integration_id
    assert "page_size=999" in data["url"]
    assert data["response"]["error"]["code"] == "PLATFORM.INPUT_INVALID"
    assert data["request"]["query"]["page_size"] == "999"


def test_log_never_contains_the_api_key_or_secrets(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    secret = "s3cr3t-value-that-must-not-leak"
    response = api.client.put(
        f"/v1/integrations/{integration_id}/enabled",
        json={"value": "nope", "client_secret": secret, "nested": {"password": secret}},
    )
    body = kombo.check("PutIntegrationsIntegrationIdEnabled", response)
    log = api.client.get(body["error"]["log_url"])
    assert log.status_code == 200
    assert api.api_key not in log.text and secret not in log.text
    wrong_key = "lmsb_wrong_key_that_is_long_enough_123"
    unauthorized = httpx.get(
        f"{api.base_url}/v1/check-api-key", headers={"Authorization": f"Bearer {wrong_key}"}
    )
    # a refused key is not stored at all (a scanner would fill the store), so nothing can leak there
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["log_url"] is None
    assert wrong_key not in unauthorized.text


def test_logs_need_authentication(api: ApiEnv, kombo: KomboContract) -> None:
    response = api.get("/v1/lms/users")  # missing X-Integration-Id → logged error
    log_url = response.json()["error"]["log_url"]
    anonymous = httpx.get(log_url)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401,
        "PLATFORM.AUTHENTICATION_INVALID",
    )
    assert "X-Integration-Id" not in anonymous.text
    unknown = api.client.get("/v1/logs/doesNotExist")
    body = kombo.check("GetCheckApiKey", unknown)  # the envelope every operation declares as default
    assert unknown.status_code == 404 and body["error"]["log_url"]
