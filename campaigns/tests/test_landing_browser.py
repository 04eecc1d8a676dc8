"""The landing page in headless Chromium (under the strict CSP of the dashboard's browser tests): the copy button."""

import pytest

from dashboard.tests.test_e2e import browser_page, pytestmark as e2e_marks  # noqa: F401 (the fixture)
from giftcards.services import redeem
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = e2e_marks


def test_the_copy_button_puts_the_code_on_the_clipboard_and_says_so(browser_page, live_server, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    _, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    code = redeem(token=person.redemption_token).code
    browser_page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    browser_page.goto(f"/r/{person.redemption_token}")
    status = browser_page.get_by_role("status")
    assert status.inner_text() == ""
    browser_page.get_by_role("button", name="Copy code").click()

    browser_page.wait_for_function("document.getElementById('copy-status').textContent === 'Copied'")
    assert status.get_attribute("aria-live") == "polite"
    assert browser_page.evaluate("navigator.clipboard.readText()") == code
