"""The hosted Connect page over real HTTP (no browser): the flow creates the integration as
``POST /v1/integrations`` does, failed attempts can be retried, links are single-use and expire, forms
need their CSRF token, relinking keeps every id, and the secret is in no page and no plain column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, text, update
from web_support import Site, csrf_of, token_of

from lmsbridge.crypto import SecretBox
from lmsbridge.store import connect_links
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import decrypt_credentials, get_integration
from lmsbridge.store.schema import Base, ConnectLink, User, WebhookEvent
from skeleton_lms import api as skel_api


@pytest.fixture
def browser_like(site: Site) -> Iterator[httpx.Client]:
    """A client without the API key, as the end customer's browser is."""
    with httpx.Client(base_url=site.base_url, timeout=30, follow_redirects=False) as client:
        yield client


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _check(client: httpx.Client, token: str, csrf: str, **fields: str) -> httpx.Response:
    return client.post("/connect/check", params={"token": token}, data={"csrf_token": csrf, **fields})


def _store_text(site: Site) -> str:
    """Every row of every table, as text: what a look into the database would show."""
    parts = []
    with site.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table.name}")))
    return "\n".join(parts)


def test_connect_flow_creates_the_integration_with_retries_and_a_single_use_link(
    site: Site, browser_like: httpx.Client
) -> None:
    link = site.create_link()
    token = token_of(link)
    page = browser_like.get(_path(link))
    assert page.status_code == 200 and "Connect your 360Learning account" in page.text
    assert "Acme Learning" in page.text
    csrf = csrf_of(page.text)

    wrong = _check(
        browser_like,
        token,
        csrf,
        region="eu",
        client_id=site.sandbox.client_id,
        client_secret="not-the-secret",
    )
    assert wrong.status_code == 400
    assert "360Learning refused these credentials (Client id, Client secret)" in wrong.text
    assert site.sandbox.client_id in wrong.text and "not-the-secret" not in wrong.text  # kept for the retry
    unreachable = _check(
        browser_like,
        token,
        csrf,
        region="us",
        client_id=site.sandbox.client_id,
        client_secret=site.sandbox.client_secret,
    )
    assert unreachable.status_code == 502 and "could not be reached in the US region" in unreachable.text
    missing = _check(browser_like, token, csrf, region="mars", client_id="x", client_secret="y")
    assert missing.status_code == 400 and "Pick where your account is hosted (EU or US)." in missing.text
    no_secret = _check(browser_like, token, csrf, region="us", client_id="kept-id", client_secret="")
    assert no_secret.status_code == 400 and "Enter the Client secret." in no_secret.text
    assert 'value="kept-id"' in no_secret.text and 'value="us" checked' in no_secret.text

    review = _check(
        browser_like,
        token,
        csrf_of(unreachable.text),
        region="eu",
        client_id=site.sandbox.client_id,
        client_secret=site.sandbox.client_secret,
    )
    assert review.status_code == 200 and "The credentials work" in review.text
    assert f"Client id <code>{site.sandbox.client_id}</code> in the EU region" in review.text
    assert "No scope is missing" in review.text and "Course Progressions" in review.text
    assert site.sandbox.client_secret not in review.text
    # checked, not yet stored: no integration, and the API says the flow is not complete
    pending = site.api.get(f"/v1/connect/integration-by-token/{token}")
    assert pending.status_code == 400
    assert site.sandbox.client_secret not in _store_text(site)

    confirmed = browser_like.post(
        "/connect/confirm", params={"token": token}, data={"csrf_token": csrf_of(review.text)}
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/connect/done")
    done = browser_like.get(confirmed.headers["location"])
    assert done.status_code == 200 and "Connected" in done.text

    created = site.api.get(f"/v1/connect/integration-by-token/{token}").json()["data"]
    assert created["end_user_organization_name"] == "Acme Learning"
    assert (created["end_user_email"], created["end_user_origin_id"]) == ("it@acme.example", "acme-42")
    integration_id = created["id"]
    assert integration_id.startswith("360learning:") and integration_id != site.integration_id
    with session_scope(site.engine, readonly=True) as session:
        events = session.scalars(select(WebhookEvent).where(WebhookEvent.integration_id == integration_id))
        assert [e.type for e in events] == ["integration-created"]
        integration = get_integration(session, integration_id)
        assert integration is not None and integration.scope_test is not None
        box = SecretBox.from_settings(site.settings)
        assert decrypt_credentials(box, integration)["client_secret"] == site.sandbox.client_secret
    assert site.sandbox.client_secret not in _store_text(site)
    # the first FULL sync was queued with it, as POST /v1/integrations does
    assert site.wait_sync_done(integration_id)["state"] == "SUCCEEDED"

    # used: the page, a second confirm and a second check all say so, and create nothing
    again = browser_like.get(_path(link))
    assert again.status_code == 410 and "already been used" in again.text
    replay = browser_like.post(
        "/connect/confirm", params={"token": token}, data={"csrf_token": csrf_of(review.text)}
    )
    assert replay.status_code == 410
    with session_scope(site.engine, readonly=True) as session:
        assert session.scalars(select(ConnectLink).where(ConnectLink.integration_id == integration_id)).all()
    site.api.delete(f"/v1/integrations/{integration_id}")


def test_expired_and_unknown_links_show_a_clear_page(site: Site, browser_like: httpx.Client) -> None:
    link = site.create_link(link_type="MAGIC_LINK")
    page = browser_like.get(_path(link))
    csrf = csrf_of(page.text)
    with session_scope(site.engine) as session:
        session.execute(
            update(ConnectLink)
            .where(ConnectLink.token_hash == connect_links.hash_token(token_of(link)))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = browser_like.get(_path(link))
    assert expired.status_code == 410 and "This link has expired" in expired.text
    late = _check(
        browser_like,
        token_of(link),
        csrf,
        region="eu",
        client_id=site.sandbox.client_id,
        client_secret=site.sandbox.client_secret,
    )
    assert late.status_code == 410 and site.sandbox.client_secret not in late.text
    unknown = browser_like.get("/connect", params={"token": "made-up"})
    assert unknown.status_code == 404 and "This link is not valid" in unknown.text


def test_connect_forms_refuse_a_missing_or_forged_csrf_token(site: Site, browser_like: httpx.Client) -> None:
    first, second = site.create_link(), site.create_link()
    other_csrf = csrf_of(browser_like.get(_path(second)).text)  # valid, but for another link
    fields = {
        "region": "eu",
        "client_id": site.sandbox.client_id,
        "client_secret": site.sandbox.client_secret,
    }
    for csrf in (None, "", "forged", other_csrf):
        data = dict(fields) if csrf is None else {**fields, "csrf_token": csrf}
        refused = browser_like.post("/connect/check", params={"token": token_of(first)}, data=data)
        assert refused.status_code == 403 and "This form was refused" in refused.text, csrf
        refused = browser_like.post("/connect/confirm", params={"token": token_of(first)}, data=data)
        assert refused.status_code == 403, csrf
    with session_scope(site.engine, readonly=True) as session:
        row = session.scalar(
            select(ConnectLink).where(ConnectLink.token_hash == connect_links.hash_token(token_of(first)))
        )
        assert row is not None and row.pending_encrypted is None and row.used_at is None


def test_relink_replaces_the_credentials_and_keeps_every_id(site: Site, browser_like: httpx.Client) -> None:
    integration_id = site.integration_id
    with session_scope(site.engine, readonly=True) as session:
        users_before = sorted(session.scalars(select(User.id).where(User.integration_id == integration_id)))
    assert users_before
    # a second credential of the same company, lacking the course statistics scope
    new = site.sandbox.control.create_credential()
    scopes = [s for s in new["scopes"] if s != "courseStats:read"]
    site.sandbox.control.set_scopes(new["client_id"], scopes)

    reply = site.api.post(f"/v1/integrations/{integration_id}/relink", json={"link_type": "EMBEDDED"})
    assert reply.status_code == 200, reply.text
    link = reply.json()["data"]["link"]
    page = browser_like.get(_path(link))
    assert page.status_code == 200 and "Update your 360Learning account" in page.text
    review = _check(
        browser_like,
        token_of(link),
        csrf_of(page.text),
        region="eu",
        client_id=new["client_id"],
        client_secret=new["client_secret"],
    )
    assert review.status_code == 200 and "Missing scopes: courseStats:read" in review.text
    assert "Course Progressions" in review.text and new["client_secret"] not in review.text
    confirmed = browser_like.post(
        "/connect/confirm", params={"token": token_of(link)}, data={"csrf_token": csrf_of(review.text)}
    )
    assert confirmed.status_code == 303
    assert "Connection updated" in browser_like.get(confirmed.headers["location"]).text
    by_token = site.api.get(f"/v1/connect/integration-by-token/{token_of(link)}").json()["data"]
    assert by_token["id"] == integration_id

    with session_scope(site.engine, readonly=True) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        credentials = decrypt_credentials(SecretBox.from_settings(site.settings), integration)
        assert credentials["client_id"] == new["client_id"]
        assert (integration.scope_test or {})["scopes"]["courseStats:read"]["status"] == "missing"
    assert new["client_secret"] not in _store_text(site)
    # the next sync continues the same store with the new credential: same users, same ids
    site.sandbox.control.set_scopes(new["client_id"], "all")
    forced = site.api.post(
        "/v1/force-sync", headers={"X-Integration-Id": integration_id}, json={"type": "DELTA"}
    )
    assert forced.status_code == 200, forced.text
    run = site.wait_sync_done(integration_id, forced.json()["data"]["sync_id"])
    assert run["state"] == "SUCCEEDED", run
    with session_scope(site.engine, readonly=True) as session:
        users_after = sorted(session.scalars(select(User.id).where(User.integration_id == integration_id)))
    assert users_after == users_before
    details = site.api.get(f"/v1/integrations/{integration_id}").json()["data"]
    assert details["id"] == integration_id and details["status"] == "ACTIVE"


def test_the_form_asks_for_what_the_connector_declares(
    site: Site, browser_like: httpx.Client, skel_lms: tuple[skel_api.SkelTenant, str]
) -> None:
    tenant, url = skel_lms
    link = site.create_link(integration_tool="skel")
    token = token_of(link)
    page = browser_like.get(_path(link))
    assert page.status_code == 200 and "Connect your Skel LMS account" in page.text
    # one secret API key, and a base URL to type instead of named regions
    assert '<input type="password" name="api_key" required>' in page.text
    assert '<input type="url" name="host" value=""' in page.text
    assert 'name="region"' not in page.text and "client_id" not in page.text
    csrf = csrf_of(page.text)

    no_host = _check(browser_like, token, csrf, api_key=tenant.api_key)
    assert no_host.status_code == 400 and "Enter the address of your Skel LMS account." in no_host.text
    no_key = _check(browser_like, token, csrf, host=url, api_key="")
    assert no_key.status_code == 400 and "Enter the API key." in no_key.text
    wrong = _check(browser_like, token, csrf, host=url, api_key="not-the-key-4711")
    assert wrong.status_code == 400 and "Skel LMS refused these credentials (API key)." in wrong.text
    assert f'value="{url}"' in wrong.text and "not-the-key-4711" not in wrong.text  # the URL is kept

    review = _check(browser_like, token, csrf, host=url, api_key=tenant.api_key)
    assert review.status_code == 200 and "The credentials work" in review.text
    assert f"Your Skel LMS account at {url}." in review.text and tenant.api_key not in review.text
    confirmed = browser_like.post(
        "/connect/confirm", params={"token": token}, data={"csrf_token": csrf_of(review.text)}
    )
    assert confirmed.status_code == 303, confirmed.text
    integration_id = site.api.get(f"/v1/connect/integration-by-token/{token}").json()["data"]["id"]
    assert integration_id.startswith("skel:")
    with session_scope(site.engine, readonly=True) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None and integration.base_url == url
        box = SecretBox.from_settings(site.settings)
        assert decrypt_credentials(box, integration) == {"api_key": tenant.api_key}
    assert tenant.api_key not in _store_text(site)
    # its first FULL sync ends while Skel LMS is still served and registered
    assert site.wait_sync_done(integration_id)["state"] == "SUCCEEDED"
    site.api.delete(f"/v1/integrations/{integration_id}")
