"""What a connector declares a user enters to connect it, and the texts derived from it (the API's docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsbridge.connect import ConnectError, probe_connection
from lmsbridge.connectors import registry
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.settings import Settings
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


async def test_a_left_out_host_is_the_first_named_one_or_a_specific_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(registry.CONNECTORS, SkelConnector.tool, SkelConnector)
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ConnectError) as refused:
        await probe_connection(settings, tool="skel", host=None, credentials={"api_key": "k"})
    assert refused.value.code == "PLATFORM.INPUT_INVALID"
    assert refused.value.message == "host: skel needs the base URL of its tenant"
    # 360Learning's first named host is the EU one (this machine cannot reach it: the error names it)
    quick = {"remote_timeout_seconds": 1.0, "remote_interactive_retry_seconds": 1.0}
    with pytest.raises(ConnectError) as eu:
        await probe_connection(
            settings.model_copy(update=quick),
            tool="360learning",
            host=None,
            credentials={"client_id": "a" * 32, "client_secret": "b" * 32},
        )
    assert "app.360learning.com" in eu.value.message, eu.value.message
