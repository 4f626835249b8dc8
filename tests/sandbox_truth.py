"""The tenant as a plain client sees it: every page of a sandbox list endpoint, fetched independently of
lmsbridge's connector (a test's source of truth)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from lmsbridge.sandbox.learning360.testing import RunningSandbox

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def token(sb: RunningSandbox) -> str:
    reply = httpx.post(
        f"{sb.base_url}/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


def fetch_all(sb: RunningSandbox, path: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token(sb)}", "360-api-version": "v2.0"}
    url: str | None = f"{sb.base_url}{path}"
    items: list[dict[str, Any]] = []
    while url:
        reply = httpx.get(url, headers=headers)
        reply.raise_for_status()
        items.extend(reply.json())
        match = _NEXT.search(reply.headers.get("link", ""))
        url = httpx.URL(url).join(match.group(1)).__str__() if match else None
    return items
