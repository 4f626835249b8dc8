"""The pages in a real headless Chromium (Debian's, through Playwright) against a real lmsbridge server and
a real sandbox: sign in, see the synced integration, force a sync and watch it finish, open a log_url,
make a webhook receiver fail and redeliver, the whole Connect flow, a forged CSRF token refused. Every
page is screenshotted into the artifacts folder and checked for the client secret and the API key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from web_support import Site, switchable_receiver, token_of, wait_for

from browser import screenshot_path

TIMEOUT_MS = 60_000


def shot(page: Page, site: Site, name: str) -> None:
    """Keep a screenshot of the page, and check that it shows no secret."""
    page.screenshot(path=screenshot_path(f"web-{name}"), full_page=True)
    html = page.content()
    for secret in site.secrets():
        assert secret not in html, f"page {name} shows a secret"


@pytest.fixture(scope="module")
def operator(browser: Browser, site: Site) -> Iterator[Page]:
    """The operator's browser, signed in to the dashboard by the first test."""
    context = browser.new_context(base_url=site.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def customer(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """The end customer's browser: no dashboard session."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def _signed_in(page: Page, site: Site) -> Page:
    page.goto("/dashboard")
    if "/dashboard/login" in page.url:
        page.fill("input[name=api_key]", site.api_key)
        page.click("button:has-text('Sign in')")
        expect(page.locator("table#integrations")).to_be_visible()
    return page


def test_sign_in_and_see_the_integration_synced(operator: Page, site: Site) -> None:
    operator.goto("/dashboard")
    assert "/dashboard/login" in operator.url
    operator.fill("input[name=api_key]", "lmsb_not_a_key")
    operator.click("button:has-text('Sign in')")
    expect(operator.locator("p.error")).to_have_text(re.compile("That API key is not valid"))
    shot(operator, site, "login-wrong-key")
    operator.fill("input[name=api_key]", site.api_key)
    operator.click("button:has-text('Sign in')")
    row = operator.locator(f'tr[data-integration="{site.integration_id}"]')
    expect(row).to_contain_text("SUCCEEDED")
    expect(row).to_contain_text("Globex")
    expect(row).to_contain_text("360Learning")
    shot(operator, site, "integrations")


def test_force_a_sync_and_watch_it_finish(operator: Page, site: Site) -> None:
    page = _signed_in(operator, site)
    page.click(f'a:has-text("{site.integration_id}")')
    expect(page.locator("#integration-id")).to_have_text(site.integration_id)
    shot(page, site, "integration")
    site.sandbox.control.set_latency(fixed_ms=250)  # a sync long enough to be watched
    try:
        page.click("button:has-text('Force FULL sync')")
        notice = page.locator("p.notice")
        expect(notice).to_contain_text("FULL sync")
        sync_id = re.search(r"FULL sync (\w+) queued", notice.inner_text())
        assert sync_id, notice.inner_text()
        row = page.locator(f'tr.sync[data-sync="{sync_id.group(1)}"]')
        # rendered while queued or running: the table polls its fragment and the page is never reloaded
        assert row.get_attribute("data-state") in ("QUEUED", "RUNNING")
        expect(page.locator("#syncs[data-poll-url]")).to_have_count(1)
        shot(page, site, "integration-syncing")
        expect(row).to_have_attribute("data-state", "SUCCEEDED", timeout=TIMEOUT_MS)
    finally:
        site.sandbox.control.set_latency(0)
    expect(page.locator("#syncs[data-poll-url]")).to_have_count(0)  # polling stopped
    expect(row.locator("td.api-calls")).not_to_have_text("0")
    expect(row.locator("ul.counts")).to_contain_text(
        "users 30 / 0 / 0 / 0"
    )  # the sandbox has 30 users, unchanged
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    shot(page, site, "integration-synced")


def test_open_a_log_url(operator: Page, site: Site) -> None:
    _signed_in(operator, site)
    reply = site.api.get("/v1/lms/courses", headers={"X-Integration-Id": "360learning:unknown"})
    log_url = reply.json()["error"]["log_url"]
    operator.goto(log_url)
    assert "/dashboard/logs/" in operator.url
    expect(operator.locator("h1")).to_contain_text("Interaction log")
    expect(operator.locator("#log-status")).to_have_text("404")
    expect(operator.locator("#log-response")).to_contain_text("PLATFORM.INTEGRATION_NOT_FOUND")
    expect(operator.locator("#log-request")).to_contain_text("[REDACTED]")  # the Authorization header
    shot(operator, site, "log")


def test_a_failed_webhook_delivery_is_redelivered(operator: Page, site: Site) -> None:
    page = _signed_in(operator, site)
    with switchable_receiver() as receiver:
        receiver.status = 500
        created = site.api.post(
            "/v1/webhooks", json={"url": receiver.url, "event_types": ["integration-state-changed"]}
        )
        assert created.status_code == 200, created.text
        endpoint = created.json()["data"]["id"]
        try:
            path = f"/v1/integrations/{site.integration_id}/enabled"
            assert site.api.put(path, json={"value": False}).status_code == 200
            assert site.api.put(path, json={"value": True}).status_code == 200

            def failed_once() -> dict[str, object] | None:
                rows = site.api.get(f"/v1/webhooks/{endpoint}/deliveries").json()["data"]["results"]
                failed = [d for d in rows if d["last_status"] == 500]
                return failed[-1] if failed else None

            delivery = wait_for(failed_once, "a delivery the receiver refused")
            receiver.status = 200
            page.goto("/dashboard/webhooks")
            row = page.locator(f'tr.delivery[data-delivery="{delivery["id"]}"]')
            expect(row).to_have_attribute("data-state", "PENDING")  # its next attempt is minutes away
            expect(row).to_contain_text("500")
            shot(page, site, "webhooks-failed")
            row.locator("button:has-text('Redeliver')").click()
            expect(page.locator("p.notice")).to_contain_text("is being sent again")
            event_id = str(delivery["event_id"])
            wait_for(lambda: 200 in receiver.answers(event_id), "the redelivery", timeout=30)
            # sent at once, not by the retry schedule (its next attempt was at least 30 s away)
            assert datetime.now(UTC) < datetime.fromisoformat(str(delivery["next_attempt_at"]))
            assert receiver.answers(event_id)[0] == 500

            def delivered() -> bool:
                page.reload()
                return row.get_attribute("data-state") == "SUCCEEDED"

            wait_for(delivered, "the delivery to show as succeeded", timeout=30)
            shot(page, site, "webhooks-redelivered")
        finally:
            site.api.delete(f"/v1/webhooks/{endpoint}")


def test_a_forged_csrf_token_is_refused(operator: Page, site: Site) -> None:
    page = _signed_in(operator, site)
    page.goto(f"/dashboard/integrations/{site.integration_id}")
    runs_before = [r["id"] for r in site.runs(site.integration_id)]
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    page.click("button:has-text('Force DELTA sync')")
    expect(page.locator("h1")).to_have_text("This form was refused")
    shot(page, site, "csrf-refused")
    missing = page.request.post(f"/dashboard/integrations/{site.integration_id}/sync", form={"type": "FULL"})
    assert missing.status == 403
    assert [r["id"] for r in site.runs(site.integration_id)] == runs_before


def test_the_whole_connect_flow(customer: BrowserContext, site: Site) -> None:
    link = site.create_link()
    page = customer.new_page()
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Connect your 360Learning account")
    shot(page, site, "connect-form")
    page.check("input[name=region][value=eu]")
    page.fill("input[name=client_id]", site.sandbox.client_id)
    page.fill("input[name=client_secret]", "wrong-secret")
    page.click("button:has-text('Check the credentials')")
    expect(page.locator("#connect-error")).to_contain_text(
        "refused these credentials (Client id, Client secret)"
    )
    expect(page.locator("input[name=client_id]")).to_have_value(site.sandbox.client_id)
    expect(page.locator("input[name=client_secret]")).to_have_value("")
    shot(page, site, "connect-error")
    page.fill("input[name=client_secret]", site.sandbox.client_secret)
    page.click("button:has-text('Check the credentials')")
    expect(page.locator("h1")).to_have_text("The credentials work")
    expect(page.locator("#missing-scopes")).to_have_text("No scope is missing.")
    expect(page.locator("ul.capabilities li.allowed")).to_have_count(9)
    shot(page, site, "connect-review")
    page.click("#confirm")
    expect(page.locator("#connect-done")).to_have_text("Connected")
    shot(page, site, "connect-done")

    created = site.api.get(f"/v1/connect/integration-by-token/{token_of(link)}")
    assert created.status_code == 200, created.text
    integration_id = created.json()["data"]["id"]
    try:
        assert site.wait_sync_done(integration_id)["state"] == "SUCCEEDED"
        page.goto(link)
        expect(page.locator("h1")).to_have_text("This link has already been used")
        shot(page, site, "connect-used")
    finally:
        site.api.delete(f"/v1/integrations/{integration_id}")
