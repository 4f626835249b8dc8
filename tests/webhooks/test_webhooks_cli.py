"""``lmsbridge webhooks add|list|rotate-secret|remove|deliveries`` against a real store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from typer.testing import CliRunner
from webhook_support import Receiver

from factories import make_integration
from lmsbridge.cli import app
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.delivery import WebhookDeliverer
from lmsbridge.webhooks.endpoints import list_endpoints

runner = CliRunner()


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["--database-url", settings.resolved_database_url, "--data-dir", str(settings.data_dir), *args],
        env={"LMSBRIDGE_ENCRYPTION_KEY": settings.encryption_key or ""},
        terminal_width=200,
    )
    return result.exit_code, result.stdout, result.stderr


async def test_webhooks_cli(db: Engine, box: SecretBox, settings: Settings, receiver: Receiver) -> None:
    code, out, err = _cli(settings, "webhooks", "list")
    assert code == 0 and "no webhook endpoints yet" in out

    code, out, err = _cli(settings, "webhooks", "add", receiver.url, "--event", "integration-created")
    assert code == 0, err
    secret = out.strip()
    with session_scope(db, readonly=True) as session:
        (endpoint,) = list_endpoints(session)
    assert (
        endpoint.event_types == ["integration-created"] and box.decrypt(endpoint.secret_encrypted) == secret
    )
    assert endpoint.id in err

    code, out, _ = _cli(settings, "webhooks", "list")
    assert code == 0 and endpoint.id in out and receiver.url in out and secret not in out

    code, _, err = _cli(settings, "webhooks", "add", "ftp://example.com/x")
    assert code == 1 and "http:// or https://" in err

    code, out, _ = _cli(settings, "webhooks", "rotate-secret", endpoint.id)
    assert code == 0
    new_secret = out.strip()
    assert new_secret != secret

    integration_id = make_integration(db, box)
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        event_id = outbox.record_integration_created(session, integration, datetime.now(UTC))
    deliverer = WebhookDeliverer(db, box, settings)
    try:
        assert await deliverer.deliver_due() == 1
    finally:
        await deliverer.aclose()
    assert receiver.received[0].signature_valid(new_secret)

    code, out, _ = _cli(settings, "webhooks", "deliveries")
    assert code == 0 and event_id in out and "integration-created" in out and "SUCCEEDED" in out
    code, out, _ = _cli(settings, "webhooks", "deliveries", "--state", "failed")
    assert code == 0 and "no webhook deliveries yet" in out
    code, _, err = _cli(settings, "webhooks", "deliveries", "--state", "lost")
    assert code == 1 and "unknown state" in err

    code, out, _ = _cli(settings, "webhooks", "remove", endpoint.id)
    assert code == 0 and endpoint.id in out
    code, _, err = _cli(settings, "webhooks", "remove", endpoint.id)
    assert code == 1 and "no webhook endpoint" in err
