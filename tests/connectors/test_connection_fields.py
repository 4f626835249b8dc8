"""What a connector declares a user enters to connect it, and the texts derived from it (the API's docs)."""

from __future__ import annotations

from lmsbridge.connectors import registry
from lmsbridge.connectors.learning360.connector import Learning360Connector
from skeleton_lms.connector import SkelConnector


def test_each_connector_declares_its_fields() -> None:
    fields = {f.name: (f.label, f.secret, f.env) for f in Learning360Connector.credential_fields}
    assert fields == {
        "client_id": ("Client id", False, None),
        "client_secret": ("Client secret", True, "LMSBRIDGE_360_CLIENT_SECRET"),
    }
    assert Learning360Connector.host_choices == (("eu", "EU"), ("us", "US"))
    assert [f.name for f in Learning360Connector.setting_fields] == ["provider_name", "author_id"]
    assert [(f.name, f.secret) for f in SkelConnector.credential_fields] == [("api_key", True)]
    assert SkelConnector.host_choices == () and SkelConnector.setting_fields == ()


def test_the_api_docs_are_derived_from_the_fields_unless_the_connector_says_more() -> None:
    assert SkelConnector.connection_text("credentials") == "`api_key` (API key)"
    assert SkelConnector.connection_text("host") == "the base URL of the tenant"
    assert SkelConnector.connection_text("settings") is None
    # 360Learning names its regional hosts itself; its settings are derived
    assert "app.us.360learning.com" in (Learning360Connector.connection_text("host") or "")
    assert registry.connection_help("settings") == (
        "For 360learning: `provider_name` (course provider for upserts), `author_id` (24-hex user id)"
    )
