"""Our OpenAPI document declares the passthrough as Kombo does and our two feature endpoints as tagged
extensions; their responses validate against it."""

from __future__ import annotations

from typing import Any

from feature_support import FeatureEnv, KomboContract


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def _parameters(operation: dict[str, Any]) -> set[tuple[str, str, bool]]:
    return {(p["name"], p["in"], bool(p.get("required"))) for p in operation.get("parameters", [])}


def test_passthrough_and_extensions_in_our_openapi(env: FeatureEnv, kombo_spec: Any) -> None:
    document = env.client.get("/v1/openapi.json").json()
    ours = _operations(document)
    method, path, operation = ours["PostPassthroughToolApi"]
    their_method, their_path, theirs = _operations(kombo_spec)["PostPassthroughToolApi"]
    assert (method, path) == (their_method, "/v1" + their_path)
    assert _parameters(operation) == _parameters(theirs)
    assert operation["tags"] == theirs["tags"] == ["General"]
    for operation_id, expected_path in (
        ("PostIntegrationsIntegrationIdScopeTest", "/v1/integrations/{integration_id}/scope-test"),
        ("PostIntegrationsIntegrationIdModelTests", "/v1/integrations/{integration_id}/model-tests"),
    ):
        method, path, operation = ours[operation_id]
        assert (method, path) == ("post", expected_path)
        assert operation["tags"] == ["lmsbridge extensions"]
        assert operation.get("security") == [{"ApiKey": []}]

    # the extension responses conform to what our document declares
    contract = KomboContract(document)
    contract.check(
        "PostIntegrationsIntegrationIdScopeTest",
        env.client.post(f"/v1/integrations/{env.integration_id}/scope-test"),
    )
    contract.check(
        "PostIntegrationsIntegrationIdModelTests",
        env.client.post(f"/v1/integrations/{env.integration_id}/model-tests"),
    )
    contract.check("GetIntegrationsIntegrationId", env.client.get(f"/v1/integrations/{env.integration_id}"))
