"""Integrations, API keys, kv and logs repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from factories import BASE_TIME, TEST_CLIENT_SECRET, make_integration, seed_tenant
from lmsbridge.crypto import SecretBox, SecretBoxError, hash_api_key
from lmsbridge.redaction import REDACTED
from lmsbridge.store import api_keys, integrations, kv, logs
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import RECORD_TABLES, ApiKey, Integration, InteractionLog, SyncRun
from lmsbridge.store.upsert import fetch_existing


def _dump_everything(engine: Engine) -> str:
    """Every row of every table as text: what an attacker with the database would see."""
    with session_scope(engine, readonly=True) as session:
        texts = []
        for table in (Integration, ApiKey, InteractionLog):
            texts += [repr(tuple(row)) for row in session.execute(select(table.__table__))]  # type: ignore[attr-defined]
    return "\n".join(texts)


def test_credentials_are_encrypted_at_rest(engine: Engine, box: SecretBox, database_url: str) -> None:
    integration_id = make_integration(engine, box)
    assert TEST_CLIENT_SECRET not in _dump_everything(engine)
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        engine.dispose()  # flush the WAL into the file
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert TEST_CLIENT_SECRET.encode() not in raw
    with session_scope(engine, readonly=True) as session:
        integration = integrations.get_integration(session, integration_id)
        assert integration is not None
        assert integrations.decrypt_credentials(box, integration)["client_secret"] == TEST_CLIENT_SECRET
        with pytest.raises(SecretBoxError):
            integrations.decrypt_credentials(SecretBox(_other_key()), integration)


def _other_key() -> bytes:
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


def test_integration_lifecycle(engine: Engine, box: SecretBox) -> None:
    first = make_integration(engine, box, end_user={"organization_name": "Acme"})
    second = make_integration(engine, box, now=BASE_TIME + timedelta(seconds=1))
    assert first.startswith("360learning:") and len(first) == len("360learning:") + 24
    with session_scope(engine) as session:
        assert [i.id for i in integrations.list_integrations(session)] == [first, second]
        updated = integrations.update_integration(
            session,
            first,
            qa_status="PASSED",
            setup_status="COMPLETED",
            scope_test={"users": "granted"},
            connector_state={"integration_360_id": "abc"},
            now=BASE_TIME + timedelta(hours=1),
        )
        assert updated is not None
        disabled = integrations.set_enabled(session, first, False, now=BASE_TIME + timedelta(hours=2))
        assert disabled is not None and disabled.enabled is False
        assert integrations.update_integration(session, "360learning:nope", qa_status="FAILED") is None
        with pytest.raises(ValueError, match="cannot update"):
            integrations.update_integration(session, first, credentials_encrypted="x")
    with session_scope(engine, readonly=True) as session:
        stored = integrations.get_integration(session, first)
        assert stored is not None
        assert (stored.qa_status, stored.setup_status, stored.enabled) == ("PASSED", "COMPLETED", False)
        assert stored.scope_test == {"users": "granted"} and stored.connector_state == {
            "integration_360_id": "abc"
        }
        assert stored.end_user == {"organization_name": "Acme"}
        assert stored.updated_at == BASE_TIME + timedelta(hours=2) and stored.created_at == BASE_TIME


def test_delete_integration_removes_all_its_data(engine: Engine, box: SecretBox) -> None:
    doomed = make_integration(engine, box)
    kept = make_integration(engine, box)
    doomed_tenant = seed_tenant(engine, doomed, users=3, courses=2, skills=1)
    kept_tenant = seed_tenant(engine, kept, users=2, courses=1)
    with session_scope(engine) as session:
        session.add(
            SyncRun(
                id="run-doomed", integration_id=doomed, type="FULL", state="SUCCEEDED", created_at=BASE_TIME
            )
        )
        logs.write_log(session, "sync", integration_id=doomed)
        logs.write_log(session, "sync", integration_id=kept)

    with session_scope(engine) as session:
        assert integrations.delete_integration(session, doomed) is True
        assert integrations.delete_integration(session, doomed) is False

    with session_scope(engine, readonly=True) as session:
        for model, table in RECORD_TABLES.items():
            t = table.__table__  # type: ignore[attr-defined]
            assert (
                session.scalar(select(func.count()).select_from(t).where(t.c.integration_id == doomed)) == 0
            ), model
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
        assert session.scalar(select(func.count()).where(InteractionLog.integration_id == doomed)) == 0
        assert session.scalar(select(func.count()).where(InteractionLog.integration_id == kept)) == 1
        assert integrations.get_integration(session, doomed) is None
        still = fetch_existing(session, "users", kept_tenant.ids(kept_tenant.users))
        assert len(still) == 2
        assert not fetch_existing(session, "users", doomed_tenant.ids(doomed_tenant.users))


def test_api_keys_are_stored_only_as_hashes(engine: Engine) -> None:
    with session_scope(engine) as session:
        key, plaintext = api_keys.create_api_key(session, "ci", now=BASE_TIME)
        key_id = key.id
    assert plaintext.startswith("lmsb_") and len(plaintext) > 40
    dump = _dump_everything(engine)
    assert plaintext not in dump and hash_api_key(plaintext) in dump
    assert plaintext[:12] in dump  # the shown prefix only

    later = BASE_TIME + timedelta(minutes=5)
    with session_scope(engine) as session:
        found = api_keys.verify_api_key(session, plaintext, now=later)
        assert found is not None and found.id == key_id and found.last_used_at == later
        assert api_keys.verify_api_key(session, plaintext + "x", now=later) is None
        assert api_keys.verify_api_key(session, "", now=later) is None
        # within a minute last_used_at is not rewritten
        again = api_keys.verify_api_key(session, plaintext, now=later + timedelta(seconds=10))
        assert again is not None and again.last_used_at == later

    with session_scope(engine) as session:
        assert [k.id for k in api_keys.list_api_keys(session)] == [key_id]
        revoked = api_keys.revoke_api_key(session, key_id, now=later)
        assert revoked is not None and revoked.revoked_at == later
        assert api_keys.revoke_api_key(session, "missing") is None
    with session_scope(engine) as session:
        assert api_keys.verify_api_key(session, plaintext) is None
        assert api_keys.list_api_keys(session, include_revoked=False) == []
        again_revoked = api_keys.revoke_api_key(session, key_id, now=later + timedelta(days=1))
        assert again_revoked is not None and again_revoked.revoked_at == later


def test_environment_id_is_generated_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = kv.environment_id(session)
    with session_scope(engine) as session:
        assert kv.environment_id(session) == first
        assert kv.get_or_create(session, "k", "v1") == "v1"
        assert kv.get_or_create(session, "k", "v2") == "v1"  # the first writer wins
    with session_scope(engine, readonly=True) as session:
        assert kv.get_value(session, "k") == "v1"
    assert len(first) == 24


def test_logs_are_written_redacted(engine: Engine, integration_id: str) -> None:
    with session_scope(engine) as session:
        entry = logs.write_log(
            session,
            "passthrough",
            integration_id=integration_id,
            method="post",
            url="https://app.360learning.test/api/v2/oauth2/token?client_secret=s3cr3t",
            status_code=401,
            request={"headers": {"authorization": "Bearer tok-123"}, "body": {"client_secret": "s3cr3t"}},
            response={"body": {"access_token": "tok-456", "users": [{"mail": "a@b.c"}]}},
            error="upstream said: Bearer tok-789 is invalid",
            duration_ms=12,
        )
        log_id = entry.id
    with session_scope(engine, readonly=True) as session:
        stored = logs.get_log(session, log_id)
        assert logs.get_log(session, "missing") is None
    assert stored is not None
    text = repr((stored.url, stored.request, stored.response, stored.error))
    for secret in ("s3cr3t", "tok-123", "tok-456", "tok-789"):
        assert secret not in text
    assert stored.request == {"headers": {"authorization": REDACTED}, "body": {"client_secret": REDACTED}}
    assert stored.response == {"body": {"access_token": REDACTED, "users": [{"mail": "a@b.c"}]}}
    assert (stored.method, stored.status_code, stored.kind, stored.duration_ms) == (
        "POST",
        401,
        "passthrough",
        12,
    )
    with session_scope(engine) as session, pytest.raises(ValueError, match="unknown log kind"):
        logs.write_log(session, "gossip")


def test_authenticate_reads_and_touches_at_most_once_a_minute(engine: Engine) -> None:
    with session_scope(engine) as session:
        key, plaintext = api_keys.create_api_key(session, "api", now=BASE_TIME)
    t1 = BASE_TIME + timedelta(minutes=1)
    found = api_keys.authenticate(engine, plaintext, now=t1)
    assert found is not None and found.id == key.id
    assert api_keys.authenticate(engine, plaintext, now=t1 + timedelta(seconds=30)) is not None
    with session_scope(engine, readonly=True) as session:
        stored = api_keys.get_api_key(session, key.id)
        assert stored is not None and stored.last_used_at == t1
    t2 = t1 + timedelta(minutes=2)
    assert api_keys.authenticate(engine, plaintext, now=t2) is not None
    with session_scope(engine, readonly=True) as session:
        stored = api_keys.get_api_key(session, key.id)
        assert stored is not None and stored.last_used_at == t2
    assert api_keys.authenticate(engine, "lmsb_wrong") is None
    with session_scope(engine) as session:
        api_keys.revoke_api_key(session, key.id)
    assert api_keys.authenticate(engine, plaintext) is None
