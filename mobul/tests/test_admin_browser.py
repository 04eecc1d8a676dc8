"""The staff admin works in a real browser under the site's Content-Security-Policy (no script errors, no
refused script or style), through sign-in, a list with filters and a change form with its widgets."""

import pytest

from campaigns.tests.factories import CampaignFactory, MailTemplateFactory
from dashboard.tests.test_e2e import PASSWORD, browser_page, pytestmark, shoot  # noqa: F401  (the fixture)

pytestmark = pytestmark  # browser tests: skipped with a clear reason without Chromium


def test_staff_work_in_the_admin_under_the_policy(browser_page, live_server, platform_admin, tenant_a):
    platform_admin.is_staff = platform_admin.is_superuser = True
    platform_admin.save()
    campaign = CampaignFactory(client=tenant_a.client, template=MailTemplateFactory(client=tenant_a.client))
    page = browser_page

    response = page.goto("/admin/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Email").fill(platform_admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")

    page.goto("/admin/campaigns/campaign/")
    page.get_by_role("link", name=campaign.name).click()
    page.wait_for_url(f"**/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("#id_name").fill("Renamed by staff")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()
    shoot(page, "admin-campaigns")
    campaign.refresh_from_db()
    assert campaign.name == "Renamed by staff"
