"""The agent screen in a browser: a new call appears on the open page without a reload, the focus stays where
the agent left it, and the caller search finds the caller."""

from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id, tracking_number_for
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from mobul.tests.axe import assert_accessible

from .factories import make_active
from .test_e2e import browser_page, pytestmark, shoot, sign_in  # noqa: F401  (the fixture)

pytestmark = pytestmark  # browser tests: skipped with a clear reason without Chromium


def call(number, caller, **fields):
    return CallSession.objects.create(provider_call_id=new_call_id(), tracking_number=number,
                                      campaign=number.campaign, caller_phone=caller, **fields)


def test_a_new_call_appears_on_the_open_screen_and_the_caller_is_found(browser_page, tenant_a, tenant_b):
    page = browser_page
    campaign = CampaignFactory(client=tenant_a.client, name="Winter smile")
    ann = create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                           city="Boston", state="MA", postal_code="02108", phone="(617) 555-0134")
    number = tracking_number_for(make_active(campaign))
    earlier = call(number, "+16175550199", provider_status="completed", duration_seconds=30)
    theirs = call(tracking_number_for(make_active(CampaignFactory(client=tenant_b.client)),
                                      phone_number="+16175550300"), "+16175550134", provider_status="in-progress")
    sign_in(page, tenant_a.agent)
    page.clock.install()  # the 15 s refresh runs when the test says, not after real seconds
    page.get_by_role("link", name="Agent screen").click()
    page.wait_for_url("**/app/calls/agent/")
    assert "No call in progress." in page.locator("#agent-calls").inner_text()
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")
    link = page.locator(f'tr[data-call="{earlier.pk}"] a')
    link.focus()

    ringing = call(number, ann.phone, recipient=ann, provider_status="ringing")
    page.clock.run_for(16_000)
    page.locator(f'#agent-calls[data-refreshed="1"] tr[data-call="{ringing.pk}"]').wait_for()

    assert page.evaluate("window.notReloaded") is True
    assert page.get_by_role("status").inner_text() == "Calls updated: 1 live now."
    assert page.evaluate("document.activeElement.getAttribute('href')") == link.get_attribute("href")
    assert page.locator(f'tr[data-call="{theirs.pk}"]').count() == 0
    assert_accessible(page, "the agent screen after a refresh")
    shoot(page, "16-agent-screen")

    page.get_by_label("Find a caller").fill("617.555.0134")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/app/calls/agent/?q=*")
    rows = page.locator("#agent-calls tbody tr[data-call]")
    assert rows.count() == 1 and "Ann Lee" in rows.first.inner_text()
    page.get_by_label("Find a caller").fill("ann")
    page.get_by_role("button", name="Search").click()
    page.locator(f'tr[data-call="{earlier.pk}"]').wait_for(state="detached")
    assert page.locator(f'tr[data-call="{ringing.pk}"]').count() == 1

    rows.first.get_by_role("link").click()
    page.get_by_role("heading", name="Call from (617) 555-0134").wait_for()
    page.get_by_label("Outcome of the call").select_option(label="Call back later")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert_accessible(page, "a call's page, saved")
    ringing.refresh_from_db()
    assert ringing.disposition == "call_back"
