"""Our OpenAPI document: Kombo's operations at the same paths with the same parameters, plus extensions."""

from __future__ import annotations

from typing import Any

from api_support import ApiEnv

OURS = {
    "GetLmsUsers",
    "GetLmsCourses",
    "GetLmsCourseProgressions",
    "GetLmsSkills",
    "GetCheckApiKey",
    "GetIntegrationsIntegrationId",
    "DeleteIntegrationsIntegrationId",
    "PutIntegrationsIntegrationIdEnabled",
}


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (method, path, operation)
    return found


def parameters(operation: dict[str, Any]) -> set[tuple[str, str, bool]]:
    return {(p["name"], p["in"], bool(p.get("required"))) for p in operation.get("parameters", [])}


def test_kombo_operations_same_paths_and_parameters(api: ApiEnv, kombo_spec: Any) -> None:
    ours = operations(api.client.get("/v1/openapi.json").json())
    theirs = operations(kombo_spec)
    for operation_id in OURS:
        method, path, operation = ours[operation_id]
        their_method, their_path, their_operation = theirs[operation_id]
        assert (method, path) == (their_method, "/v1" + their_path)
        assert parameters(operation) == parameters(their_operation), operation_id
        assert operation["tags"] == their_operation["tags"]
        assert "422" not in operation["responses"] and "default" in operation["responses"]
        assert operation.get("security") == [{"ApiKey": []}]


def test_extensions_are_tagged_and_docs_served(api: ApiEnv, kombo_spec: Any) -> None:
    document = api.client.get("/v1/openapi.json").json()
    kombo_ids = set(operations(kombo_spec))
    ours = operations(document)
    assert "GetLogsLogId" in ours
    # anything that is not one of Kombo's operations must say so
    for operation_id, (_, path, operation) in ours.items():
        if operation_id not in kombo_ids:
            assert operation["tags"] == ["lmsbridge extensions"], (operation_id, path)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API key>`",
    }
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "/v1/openapi.json" in docs.text
