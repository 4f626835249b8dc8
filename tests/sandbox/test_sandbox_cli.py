"""`python -m lmsbridge.sandbox` runs standalone, prints its base URL and credential, and serves them."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from lmsbridge.sandbox.learning360.testing import free_socket


def test_module_entry_point_serves_printed_credentials() -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    args = ["--port", str(port), "--users", "20", "--courses", "5", "--attempts", "50", "--no-rate-limits"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsbridge.sandbox", *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        printed = {}
        while len(printed) < 3:
            line = proc.stdout.readline()
            assert line, "sandbox exited early"
            key, _, value = line.partition(":")
            if key in ("base_url", "client_id", "client_secret"):
                printed[key] = value.strip()
        assert printed["base_url"] == f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.post(
                    f"{printed['base_url']}/api/v2/oauth2/token",
                    json={
                        "grant_type": "client_credentials",
                        "client_id": printed["client_id"],
                        "client_secret": printed["client_secret"],
                    },
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "sandbox never accepted connections"
                time.sleep(0.05)
        assert response.status_code == 200
        users = httpx.get(
            f"{printed['base_url']}/api/v2/users",
            headers={"Authorization": f"Bearer {response.json()['access_token']}", "360-api-version": "v2.0"},
        )
        assert len(users.json()) == 20
    finally:
        proc.terminate()
        proc.wait(timeout=10)
