"""The command line: migrations, API keys, integrations, demo preparation, clear one-line errors, serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from factories import make_integration, new_box
from lmsbridge.cli import app
from lmsbridge.store.api_keys import verify_api_key
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import head_revision

runner = CliRunner()


def _cli(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["--database-url", database_url, "--data-dir", str(tmp_path / "data"), *args], terminal_width=200
    )
    return result.exit_code, result.stdout, result.stderr


def _key_is_valid(database_url: str, plaintext: str) -> bool:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return verify_api_key(session, plaintext) is not None
    finally:
        engine.dispose()


def test_migrate_reports_head(database_url: str, tmp_path: Path) -> None:
    code, stdout, _ = _cli(database_url, tmp_path, "migrate")
    assert code == 0 and f"revision {head_revision()}" in stdout


def test_api_key_lifecycle(database_url: str, tmp_path: Path) -> None:
    code, stdout, stderr = _cli(database_url, tmp_path, "api-keys", "create", "--name", "ci-key")
    assert code == 0
    plaintext = stdout.strip()
    assert plaintext.startswith("lmsb_") and "cannot be shown again" in stderr
    assert _key_is_valid(database_url, plaintext)
    key_id = stderr.split("created API key ", 1)[1].split()[0]

    code, listing, _ = _cli(database_url, tmp_path, "api-keys", "list")
    assert code == 0 and key_id in listing and "ci-key" in listing
    assert plaintext not in listing and plaintext[:12] in listing

    code, stdout, _ = _cli(database_url, tmp_path, "api-keys", "revoke", key_id)
    assert code == 0 and f"revoked API key {key_id}" in stdout
    assert not _key_is_valid(database_url, plaintext)


def test_unknown_key_is_a_one_line_error(database_url: str, tmp_path: Path) -> None:
    code, stdout, stderr = _cli(database_url, tmp_path, "api-keys", "revoke", "doesnotexist")
    assert code == 1 and stdout == ""
    assert stderr.strip() == "error: no API key with id 'doesnotexist' (see `lmsbridge api-keys list`)"


def test_integrations_list(database_url: str, tmp_path: Path) -> None:
    code, stdout, _ = _cli(database_url, tmp_path, "integrations", "list")
    assert code == 0 and "no integrations yet" in stdout
    engine = make_engine(database_url)
    try:
        integration_id = make_integration(engine, new_box(), base_url="https://acme.360learning.test")
    finally:
        engine.dispose()
    code, stdout, _ = _cli(database_url, tmp_path, "integrations", "list")
    assert code == 0 and integration_id in stdout and "https://acme.360learning.test" in stdout


def test_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{port}/nope"
    code, stdout, stderr = _cli(url, tmp_path, "api-keys", "list")
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the database at")
    assert "hunter2" not in stderr and "Traceback" not in stderr


def test_invalid_configuration_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, stderr = _cli("mysql://localhost/x", tmp_path, "migrate")
    assert code == 1 and stderr.startswith("error: invalid configuration (database_url)")
    assert len(stderr.strip().splitlines()) == 1


def test_demo_prepares_a_key_and_prints_curl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the demo's tenant limits reads as 360Learning does: the product's budget, not the tests' one
    monkeypatch.delenv("LMSBRIDGE_REMOTE_READS_PER_SECOND")
    monkeypatch.delenv("LMSBRIDGE_REMOTE_WRITES_PER_SECOND")
    database_url = f"sqlite:///{tmp_path / 'data' / 'lmsbridge.db'}"
    code, stdout, _ = _cli(database_url, tmp_path, "demo", "--no-serve", "--port", "8123")
    assert code == 0
    key = next(word for word in stdout.split() if word.startswith("lmsb_"))
    assert f'curl -s http://127.0.0.1:8123/v1/check-api-key -H "Authorization: Bearer {key}"' in stdout
    assert _key_is_valid(database_url, key)


CLAIM = (
    "from lmsbridge.runtime import claim_background_services as claim; "
    "from lmsbridge.settings import Settings; print(claim(Settings()), flush=True)"
)


def _claims_background(data: Path) -> bool:
    """Whether a new process could claim the background services of the workers sharing ``data``."""
    code = CLAIM
    env = {**os.environ, "LMSBRIDGE_DATA_DIR": str(data)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_one_process_at_a_time_claims_the_background_services(tmp_path: Path) -> None:
    code = CLAIM + "; import sys; sys.stdin.read()"
    env = {**os.environ, "LMSBRIDGE_DATA_DIR": str(tmp_path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert _claims_background(tmp_path) is False  # held by the first process
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits: the OS releases its lock
        holder.wait(timeout=15)
    assert _claims_background(tmp_path) is True


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_migrates_and_answers_over_http(tmp_path: Path, workers: int) -> None:
    """`lmsbridge serve` in a real process: an API key created by the CLI works against it; with several
    workers, every worker answers and exactly one of them holds the background services."""
    data = tmp_path / "data"
    database_url = f"sqlite:///{data / 'lmsbridge.db'}"
    code, stdout, _ = _cli(database_url, tmp_path, "api-keys", "create")
    assert code == 0
    key = stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LMSBRIDGE_DATA_DIR": str(data), "LMSBRIDGE_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "lmsbridge.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/check-api-key"
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
                break
            except httpx.TransportError:
                time.sleep(0.1)  # polling for the server to come up, with a deadline
        if response is None:
            output = process.stdout.read().decode() if process.poll() is not None and process.stdout else ""
            pytest.fail(f"lmsbridge serve did not answer within 30 s: {output[-2000:]}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "success"
        if workers > 1:
            # each request on a new connection: whichever worker accepts it answers the same
            statuses = {
                httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code for _ in range(20)
            }
            assert statuses == {200}
            assert len(psutil.Process(process.pid).children()) >= workers
        assert _claims_background(data) is False  # the server (one of its workers) runs them
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_sandbox_command_is_wired_when_present() -> None:
    import importlib.util

    if importlib.util.find_spec("lmsbridge.sandbox.learning360.cli") is None:
        pytest.skip("lmsbridge.sandbox.learning360.cli is not in this tree")
    result = runner.invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0 and "--users" in result.stdout
