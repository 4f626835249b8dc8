"""The dashboard over real HTTP (no browser): the session cookie's attributes and lifetime, sign-in and
sign-out, CSRF on every form, a revoked key ending its session, log_url as a page or as JSON."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import select
from web_support import Site, csrf_of, token_of

from factories import make_integration
from lmsbridge.actions import tasks
from lmsbridge.actions.errors import error_body
from lmsbridge.crypto import SecretBox
from lmsbridge.store import connect_links
from lmsbridge.store.api_keys import create_api_key, revoke_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import WebhookEvent
from lmsbridge.web.security import CSRF_COOKIE, SESSION_COOKIE


@pytest.fixture
def browser_like(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=30, follow_redirects=False) as client:
        yield client


def _sign_in(client: httpx.Client, api_key: str, next_path: str = "/dashboard") -> httpx.Response:
    page = client.get("/dashboard/login")
    return client.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "api_key": api_key, "next": next_path}
    )


def _set_cookies(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def test_sign_in_sets_a_strict_http_only_expiring_session(site: Site, browser_like: httpx.Client) -> None:
    assert browser_like.get("/dashboard").headers["location"] == "/dashboard/login?next=%2Fdashboard"
    wrong = _sign_in(browser_like, "lmsb_wrong")
    assert wrong.status_code == 401 and "That API key is not valid" in wrong.text
    assert SESSION_COOKIE not in browser_like.cookies and "lmsb_wrong" not in wrong.text
    signed_in = _sign_in(browser_like, site.api_key)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/dashboard")
    cookies = _set_cookies(signed_in)
    session = cookies[SESSION_COOKIE]
    assert session["httponly"] and session["samesite"] == "strict" and session["path"] == "/"
    assert int(session["max-age"]) == int(site.settings.dashboard_session_hours * 3600)
    assert site.api_key not in signed_in.headers.get("set-cookie", "")
    assert cookies[CSRF_COOKIE]["httponly"] and cookies[CSRF_COOKIE]["samesite"] == "strict"
    page = browser_like.get("/dashboard")
    assert page.status_code == 200 and site.integration_id in page.text
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert site.api_key not in page.text
    # a tampered cookie is no session (a character of the signature changed, not its last ones: in
    # base64 those may carry padding bits, and the value may already end as the tampered one would)
    value = session.value
    changed = "A" if value[-10] != "A" else "B"
    browser_like.cookies.set(SESSION_COOKIE, value[:-10] + changed + value[-9:])
    assert browser_like.get("/dashboard").status_code == 303


def test_sign_in_only_redirects_within_the_site(site: Site, browser_like: httpx.Client) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        reply = _sign_in(browser_like, site.api_key, target)
        assert reply.headers["location"] == "/dashboard", target


def test_revoking_the_key_ends_its_session_and_sign_out_ends_it_too(
    site: Site, browser_like: httpx.Client
) -> None:
    with session_scope(site.engine) as session:
        key, plaintext = create_api_key(session, "short-lived")
    assert _sign_in(browser_like, plaintext).status_code == 303
    assert browser_like.get("/dashboard").status_code == 200
    with session_scope(site.engine) as session:
        revoke_api_key(session, key.id)
    assert browser_like.get("/dashboard").status_code == 303

    assert _sign_in(browser_like, site.api_key).status_code == 303
    page = browser_like.get("/dashboard")
    out = browser_like.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert browser_like.get("/dashboard").status_code == 303


def test_every_dashboard_form_refuses_a_missing_or_forged_csrf_token(
    site: Site, browser_like: httpx.Client
) -> None:
    assert _sign_in(browser_like, site.api_key).status_code == 303
    integration = f"/dashboard/integrations/{site.integration_id}"
    runs_before = [r["id"] for r in site.runs(site.integration_id)]
    posts = [
        (f"{integration}/sync", {"type": "FULL"}),
        (f"{integration}/enabled", {"value": "false"}),
        (f"{integration}/relink", {"link_type": "EMBEDDED"}),
        (f"{integration}/test", {"models": "true"}),
        (f"{integration}/delete", {"confirm": site.integration_id}),
        ("/dashboard/webhooks/deliveries/nope/redeliver", {}),
        ("/dashboard/logout", {}),
    ]
    for path, fields in posts:
        for csrf in (None, "", "forged-token"):
            data = fields if csrf is None else {**fields, "csrf_token": csrf}
            refused = browser_like.post(path, data=data)
            assert refused.status_code == 403 and "This form was refused" in refused.text, (path, csrf)
    # nothing happened: no sync queued, still enabled, not deleted, still signed in
    assert [r["id"] for r in site.runs(site.integration_id)] == runs_before
    details = site.api.get(f"/v1/integrations/{site.integration_id}").json()["data"]
    assert details["status"] == "ACTIVE"
    assert browser_like.get("/dashboard").status_code == 200
    # sign-in itself needs the token too
    refused = browser_like.post("/dashboard/login", data={"api_key": site.api_key})
    assert refused.status_code == 403


def test_log_url_is_a_page_in_a_browser_and_json_for_api_clients(
    site: Site, browser_like: httpx.Client
) -> None:
    error = site.api.get("/v1/lms/users", headers={"X-Integration-Id": "360learning:nope"}).json()["error"]
    log_url = error["log_url"]
    log_id = log_url.rsplit("/", 1)[1]
    as_json = site.api.get(log_url)
    assert as_json.status_code == 200 and as_json.json()["data"]["id"] == log_id
    # a browser without a session is sent to the log's page, which asks it to sign in first
    opened = browser_like.get(log_url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert (opened.status_code, opened.headers["location"]) == (303, f"/dashboard/logs/{log_id}")
    assert browser_like.get(opened.headers["location"]).status_code == 303
    # without a browser's Accept and without a key, it is still the API's 401
    assert browser_like.get(log_url).status_code == 401
    assert _sign_in(browser_like, site.api_key, f"/dashboard/logs/{log_id}").headers["location"] == (
        f"/dashboard/logs/{log_id}"
    )
    page = browser_like.get(f"/dashboard/logs/{log_id}")
    assert page.status_code == 200 and "Interaction log" in page.text and "/v1/lms/users" in page.text
    assert "INTEGRATION_NOT_FOUND" in page.text and site.api_key not in page.text


def test_enable_disable_force_and_delete_with_confirmation(site: Site, browser_like: httpx.Client) -> None:
    assert _sign_in(browser_like, site.api_key).status_code == 303
    path = f"/dashboard/integrations/{site.integration_id}"
    csrf = csrf_of(browser_like.get(path).text)
    disabled = browser_like.post(f"{path}/enabled", data={"csrf_token": csrf, "value": "false"})
    assert disabled.status_code == 303
    assert site.api.get(f"/v1/integrations/{site.integration_id}").json()["data"]["status"] == "INACTIVE"
    # the force-sync route's own rule applies: a disabled integration is not synced
    refused = browser_like.post(f"{path}/sync", data={"csrf_token": csrf, "type": "DELTA"})
    assert "enable it before syncing" in browser_like.get(refused.headers["location"]).text
    assert browser_like.post(f"{path}/enabled", data={"csrf_token": csrf, "value": "true"}).status_code == 303
    assert site.api.get(f"/v1/integrations/{site.integration_id}").json()["data"]["status"] == "ACTIVE"
    with session_scope(site.engine, readonly=True) as session:
        states = session.scalars(
            select(WebhookEvent.payload).where(
                WebhookEvent.integration_id == site.integration_id,
                WebhookEvent.type == "integration-state-changed",
            )
        ).all()
    assert [p["data"]["state"] for p in states][-2:] == ["INACTIVE", "ACTIVE"]

    doomed = make_integration(
        site.engine, SecretBox.from_settings(site.settings), end_user={"organization_name": "Doomed"}
    )
    confirm_page = browser_like.get(f"/dashboard/integrations/{doomed}/delete")
    assert confirm_page.status_code == 200 and "cannot be undone" in confirm_page.text
    wrong = browser_like.post(
        f"/dashboard/integrations/{doomed}/delete", data={"csrf_token": csrf, "confirm": "something else"}
    )
    assert wrong.status_code == 400 and site.api.get(f"/v1/integrations/{doomed}").status_code == 200
    deleted = browser_like.post(
        f"/dashboard/integrations/{doomed}/delete", data={"csrf_token": csrf, "confirm": doomed}
    )
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/dashboard")
    assert site.api.get(f"/v1/integrations/{doomed}").status_code == 404
    with session_scope(site.engine, readonly=True) as session:
        types = session.scalars(select(WebhookEvent.type).where(WebhookEvent.integration_id == doomed)).all()
    assert "integration-deleted" in types


def test_redeliver_through_the_api(site: Site) -> None:
    endpoint = site.api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/unused"}).json()["data"]["id"]
    try:
        reply = site.api.post(f"/v1/webhooks/{endpoint}/deliveries/nope/redeliver")
        assert reply.status_code == 404 and reply.json()["error"]["message"] == (
            f"No delivery 'nope' of webhook endpoint '{endpoint}'."
        )
    finally:
        site.api.delete(f"/v1/webhooks/{endpoint}")


def test_action_tasks_show_their_per_item_errors(site: Site, browser_like: httpx.Client) -> None:
    now = datetime.now(UTC)
    failed_item = error_body("REMOTE.INPUT_INVALID", "title must not be empty", None)
    with session_scope(site.engine) as session:
        task = tasks.create_task(session, site.integration_id, tasks.UPSERT, {"items": []}, now)
        result = [
            {"origin_id": "course-ok", "status": "SUCCEEDED", "data": {"id": "x"}},
            {"origin_id": "course-bad", "status": "FAILED", "error": failed_item},
        ]
        tasks.finish(session, task.id, tasks.COMPLETED, now, result=result)
        task_id = task.id
    assert _sign_in(browser_like, site.api_key).status_code == 303
    page = browser_like.get(f"/dashboard/integrations/{site.integration_id}")
    assert task_id in page.text
    assert "course-bad: REMOTE.INPUT_INVALID — title must not be empty" in page.text
    assert "course-ok:" not in page.text


def test_relink_from_the_dashboard_shows_a_link_for_the_integration(
    site: Site, browser_like: httpx.Client
) -> None:
    assert _sign_in(browser_like, site.api_key).status_code == 303
    path = f"/dashboard/integrations/{site.integration_id}"
    csrf = csrf_of(browser_like.get(path).text)
    page = browser_like.post(f"{path}/relink", data={"csrf_token": csrf, "link_type": "MAGIC_LINK"})
    assert page.status_code == 200 and "expires in 1 year" in page.text
    link = re.search(r'id="relink-link"[^>]*value="([^"]+)"', page.text)
    assert link and link.group(1).startswith(f"{site.base_url}/connect?token=")
    with session_scope(site.engine, readonly=True) as session:
        found = connect_links.find_link(session, token_of(html.unescape(link.group(1))), datetime.now(UTC))
        assert found.link is not None and found.link.integration_id == site.integration_id
        assert found.link.relink and found.link.link_type == "MAGIC_LINK"


def test_scope_and_model_tests_run_from_the_dashboard(site: Site, browser_like: httpx.Client) -> None:
    assert _sign_in(browser_like, site.api_key).status_code == 303
    path = f"/dashboard/integrations/{site.integration_id}"
    csrf = csrf_of(browser_like.get(path).text)
    everything = site.sandbox.control.set_scopes(site.sandbox.client_id, "all")
    site.sandbox.control.set_scopes(site.sandbox.client_id, [s for s in everything if s != "courses:read"])
    try:
        ran = browser_like.post(f"{path}/test", data={"csrf_token": csrf, "models": "false"})
        page = browser_like.get(ran.headers["location"])
        assert "Scope test done." in page.text and "Missing scopes: courses:read" in page.text
        assert "needs courses:read" in page.text  # Courses and Course Revisions are shown unavailable
    finally:
        site.sandbox.control.set_scopes(site.sandbox.client_id, "all")
    ran = browser_like.post(f"{path}/test", data={"csrf_token": csrf, "models": "true"})
    page = browser_like.get(ran.headers["location"])
    assert "No scope is missing." in page.text and "Model tests done: QA PASSED." in page.text
