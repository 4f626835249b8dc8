"""Operating integrations from the command line: list shows organization and last sync; disable,
enable and delete; the store's files are private; the demo checks its port before any work."""

from __future__ import annotations

import socket
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from factories import BASE_TIME, make_integration, new_box
from lmsbridge import cli_connection
from lmsbridge.cli import app
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id
from lmsbridge.settings import Settings
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import decrypt_credentials
from lmsbridge.store.schema import Integration, SyncRun, WebhookEvent
from skeleton_lms import api as skel_api

runner = CliRunner()


def _cli(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["--database-url", database_url, "--data-dir", str(tmp_path / "data"), *args], terminal_width=200
    )
    return result.exit_code, result.stdout, result.stderr


def test_list_disable_enable_delete(database_url: str, tmp_path: Path) -> None:
    assert _cli(database_url, tmp_path, "migrate")[0] == 0
    engine = make_engine(database_url)
    try:
        integration_id = make_integration(engine, new_box(), end_user={"organization_name": "Acme Learning"})
        with session_scope(engine) as session:
            session.add(
                SyncRun(
                    id=random_id(),
                    integration_id=integration_id,
                    type="FULL",
                    state="SUCCEEDED",
                    created_at=BASE_TIME,
                    ended_at=BASE_TIME,
                )
            )
        code, listing, _ = _cli(database_url, tmp_path, "integrations", "list")
        assert code == 0 and "Acme Learning" in listing
        assert f"FULL SUCCEEDED {BASE_TIME:%Y-%m-%d %H:%MZ}" in listing

        code, stdout, _ = _cli(database_url, tmp_path, "integrations", "disable", integration_id)
        assert code == 0 and f"disabled integration {integration_id}" in stdout
        with session_scope(engine, readonly=True) as session:
            assert session.get(Integration, integration_id).enabled is False  # type: ignore[union-attr]
            changes = session.scalars(select(WebhookEvent.type)).all()
        assert "integration-state-changed" in changes  # as the API announces it
        code, stdout, _ = _cli(database_url, tmp_path, "integrations", "enable", integration_id)
        assert code == 0
        with session_scope(engine, readonly=True) as session:
            assert session.get(Integration, integration_id).enabled is True  # type: ignore[union-attr]

        code, _, stderr = _cli(database_url, tmp_path, "integrations", "delete", "nope", "--yes")
        assert code == 1 and "no integration with id 'nope'" in stderr
        code, stdout, _ = _cli(database_url, tmp_path, "integrations", "delete", integration_id, "--yes")
        assert code == 0 and f"deleted integration {integration_id}" in stdout
        with session_scope(engine, readonly=True) as session:
            assert session.get(Integration, integration_id) is None
            assert "integration-deleted" in session.scalars(select(WebhookEvent.type)).all()
    finally:
        engine.dispose()


def test_store_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    result = runner.invoke(app, ["--data-dir", str(data), "api-keys", "create"])
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("lmsbridge.db", "lmsbridge.db-wal", "secret.key"):
        path = data / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (data / "lmsbridge.db").exists()


def test_demo_checks_its_port_before_generating(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = runner.invoke(
            app, ["--data-dir", str(tmp_path / "data"), "demo", "--port", str(port), "--host", "127.0.0.1"]
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "generating" not in result.stderr
    assert elapsed < 5, elapsed  # no tenant was generated first


def test_client_secret_comes_from_the_environment_or_a_hidden_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmsbridge.sandbox.learning360.testing import running_sandbox

    with running_sandbox(seed=3, users=5, courses=2, attempts=10, integrations=1) as sb:
        base = ["--data-dir", str(tmp_path / "data"), "integrations", "add", "360learning"]
        args = [*base, "--credential", f"client_id={sb.client_id}", "--organization-name", "Acme"]
        args += ["--host", sb.base_url, "--no-sync"]
        from_env = runner.invoke(app, args, env={"LMSBRIDGE_360_CLIENT_SECRET": sb.client_secret})
        assert from_env.exit_code == 0, from_env.stderr
        assert "connected integration" in from_env.stdout and sb.client_secret not in from_env.output
        # not on a terminal (a script, CI): nothing to ask, the missing secret is named
        unasked = runner.invoke(app, args, input=f"{sb.client_secret}\n")
        assert unasked.exit_code == 1 and "connected" not in unasked.stdout
        assert "360learning needs client_secret" in unasked.stderr
        assert "LMSBRIDGE_360_CLIENT_SECRET" in unasked.stderr
        monkeypatch.setattr(cli_connection, "stdin_is_terminal", lambda: True)
        prompted = runner.invoke(app, args, input=f"{sb.client_secret}\n")
        assert prompted.exit_code == 0, prompted.stderr
        assert "connected integration" in prompted.stdout and sb.client_secret not in prompted.output
        # the sandbox on loopback is refused unless the operator allows private hosts
        refused = runner.invoke(
            app,
            args,
            env={"LMSBRIDGE_360_CLIENT_SECRET": sb.client_secret, "LMSBRIDGE_ALLOW_PRIVATE_HOSTS": "false"},
        )
        assert refused.exit_code == 1
        assert "loopback" in refused.stderr and "LMSBRIDGE_ALLOW_PRIVATE_HOSTS" in refused.stderr


def test_the_cli_connects_any_tool_with_the_fields_its_connector_declares(
    tmp_path: Path, skel_lms: tuple[skel_api.SkelTenant, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, url = skel_lms
    data = tmp_path / "data"
    add = ["--data-dir", str(data), "integrations", "add"]
    skel = [*add, "skel", "--organization-name", "Initech", "--no-sync"]

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), input=stdin, terminal_width=200)
        return result.exit_code, result.stdout, result.stderr

    code, stdout, stderr = run(*skel, "--host", url, "--credential", f"api_key={tenant.api_key}")
    assert code == 0, stderr
    assert "connected integration skel:" in stdout and tenant.api_key not in stdout + stderr
    engine = make_engine(f"sqlite:///{data / 'lmsbridge.db'}")
    try:
        with session_scope(engine, readonly=True) as session:
            [integration] = session.scalars(select(Integration)).all()
            assert (integration.tool, integration.base_url) == ("skel", url)
            box = SecretBox.from_settings(Settings(data_dir=data))
            assert decrypt_credentials(box, integration) == {"api_key": tenant.api_key}
    finally:
        engine.dispose()

    # what the user typed wrong is named, with what the tool accepts; a value is never repeated
    code, _, stderr = run(*skel, "--host", url, "--credential", "client_id=abc")
    assert code == 1 and "skel has no --credential 'client_id'; it accepts: api_key" in stderr
    code, _, stderr = run(*skel, "--host", url, "--credential", "api_key")
    assert code == 1 and "--credential takes NAME=VALUE" in stderr and "accepts: api_key" in stderr
    code, _, stderr = run(*skel, "--host", url, "--credential", "hunter2-no-equals")
    assert code == 1 and "hunter2" not in stderr
    code, _, stderr = run(*skel, "--host", url, "--credential", "api_key=a", "--credential", "api_key=b")
    assert code == 1 and "--credential api_key is given twice" in stderr
    code, _, stderr = run(*skel, "--host", url, "--credential", "api_key=k", "--setting", "author_id=1")
    assert code == 1 and "skel has no --setting 'author_id'; it accepts: none" in stderr
    code, _, stderr = run(*skel, "--host", url)
    assert code == 1 and "skel needs api_key (--credential api_key=…)" in stderr
    code, _, stderr = run(*skel, "--credential", f"api_key={tenant.api_key}")
    assert code == 1 and "skel needs --host" in stderr
    code, _, stderr = run(*add, "moodle", "--organization-name", "X", "--credential", "token=t")
    assert code == 1 and "unknown tool 'moodle'; known: 360learning, skel" in stderr
    code, _, stderr = run(*skel, "--host", url, "--credential", "api_key=not-the-key")
    assert code == 1 and "Skel LMS refused the credentials (API key)" in stderr
    assert "not-the-key" not in stderr
    # on a terminal, the secret left out is asked for, hidden
    monkeypatch.setattr(cli_connection, "stdin_is_terminal", lambda: True)
    code, stdout, stderr = run(*skel, "--host", url, stdin=f"{tenant.api_key}\n")
    assert code == 0, stderr
    assert "API key" in stderr and tenant.api_key not in stdout + stderr


def test_add_help_lists_what_each_known_tool_takes(skel_lms: tuple[skel_api.SkelTenant, str]) -> None:
    result = runner.invoke(app, ["integrations", "add", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # as wrapped for the terminal's width
    assert "--credential NAME=VALUE" in text and "--setting NAME=VALUE" in text
    assert "skel: credentials api_key (secret); host the tenant's base URL (required)." in text
    assert "client_secret (secret; or LMSBRIDGE_360_CLIENT_SECRET)" in text


def test_serve_points_at_the_demo_store_when_its_own_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lmsbridge.cli import _hint_demo_store
    from lmsbridge.settings import Settings
    from lmsbridge.store.migrate import upgrade_database

    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    engine = make_engine(settings.resolved_database_url)
    demo_engine = make_engine(f"sqlite:///{data / 'demo' / 'lmsbridge.db'}")
    try:
        upgrade_database(engine)
        _hint_demo_store(settings, engine)
        assert "demo" not in capsys.readouterr().err  # no demo store yet: nothing to say
        upgrade_database(demo_engine)
        _hint_demo_store(settings, engine)
        assert f"lmsbridge --data-dir {data / 'demo'} serve" in capsys.readouterr().err.replace("\n", "")
        make_integration(engine, new_box())
        _hint_demo_store(settings, engine)
        assert capsys.readouterr().err == ""  # its own store has integrations
    finally:
        engine.dispose()
        demo_engine.dispose()
