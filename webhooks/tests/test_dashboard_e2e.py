"""Settings → Webhooks in headless Chromium, under the strict CSP: add an endpoint, copy its secret, see a delivery
in the log and replay it; axe-core finds no critical or serious violation in the page's content."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from standardwebhooks import Webhook

from dashboard.tests.test_e2e import browser_page, pytestmark as e2e_marks, shoot, sign_in  # noqa: F401
from webhooks import publish
from webhooks.choices import EventType

pytestmark = e2e_marks


def serious_violations(page):
    results = Axe().run(page, context={"include": [["main"]]})
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]],
             [node["failureSummary"] for node in violation["nodes"]][:2])
            for violation in results.response["violations"] if violation["impact"] in ("critical", "serious")]


def test_add_an_endpoint_see_a_delivery_and_replay_it(browser_page, tenant_a, receiver):
    page = browser_page
    sign_in(page, tenant_a.admin)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("CRM")
    page.get_by_label("Proof ready").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    assert serious_violations(page) == []
    shoot(page, "webhooks-endpoint-added")

    publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={"proof_id": 1})
    (request,) = receiver.wait_for(1)
    Webhook(secret).verify(request.body, request.headers)

    page.goto("/app/settings/webhooks/")
    assert secret not in page.content()
    page.get_by_role("link", name=f"Edit and deliveries of {receiver.url}").click()
    log = page.locator("#webhook-log")
    assert "Delivered" in log.inner_text() and "HTTP 200" in log.inner_text()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Replay").click()
    page.get_by_text("is being sent again").wait_for()
    receiver.wait_for(2)
    assert "(replay)" in page.locator("#webhook-log").inner_text()
    shoot(page, "webhooks-delivery-log")
