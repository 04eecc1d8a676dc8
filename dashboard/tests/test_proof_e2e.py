"""The proof on the campaign page, in a real browser (Chromium, strict CSP): generate it, see both sides of its
pieces, mark the campaign proofed and approve it, and find the approval in the status history."""

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from mailpieces import proofs
from mailpieces.models import Proof
from mailpieces.tests.factories import add_recipient, campaign_with

from .test_e2e import browser_page, pytestmark, shoot, sign_in  # noqa: F401 (the fixture and the skip)


def test_generate_a_proof_see_its_thumbnails_and_approve_it(browser_page, live_server, tenant_a):  # noqa: F811
    page = browser_page
    campaign = campaign_with(tenant_a.client, name="Proof walk")
    add_recipient(campaign, 1)
    add_recipient(campaign, 2, first_name="Wilhelmina", last_name="Featherstonehaugh")
    campaign.refresh_from_db()
    sign_in(page, tenant_a.admin)
    page.goto(f"/app/campaigns/{campaign.pk}/")

    assert page.get_by_text("No proof yet.").is_visible()
    assert page.get_by_role("button", name="Mark proofed").is_disabled()
    assert "Generate a proof" in page.locator("#refused-proofed").inner_text()

    # A proof waiting for its worker: the page shows its progress, polls, and shows the proof once it is done.
    waiting = Proof.objects.create(campaign=campaign, version=1, fingerprint=proofs.fingerprint(campaign))
    page.reload()
    assert page.locator("#proof-progress").evaluate("bar => bar.value") == 0
    assert page.locator("#proof-state").inner_text() == "Waiting for a worker"
    proofs.generate(waiting.pk)
    page.locator("#proof-state", has_text="Ready").wait_for()

    page.get_by_role("button", name="Generate proof").click()
    page.get_by_text("Proof v2 is being rendered.").wait_for()
    page.locator("#proof-state", has_text="Ready").wait_for()
    thumbnails = page.locator(".proof-piece img")
    assert thumbnails.count() == 4  # two pieces, front and back
    for index in range(4):
        image = thumbnails.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function("image => image.complete && image.naturalWidth === 600", arg=image.element_handle())
    assert page.get_by_text("Preflight found nothing to fix.").is_visible()
    assert page.get_by_role("img", name="Back of Wilhelmina Featherstonehaugh's piece").is_visible()
    shoot(page, "16-campaign-proof")

    page.get_by_role("button", name="Mark proofed").click()
    page.get_by_text("The campaign is now proofed.").wait_for()
    page.get_by_role("button", name="Approve proof").click()
    page.get_by_text("The campaign is now approved.").wait_for()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.APPROVED
    history = page.locator(".status-history li").first.inner_text()
    assert "Proofed → Approved · proof v2" in history and tenant_a.admin.email in history
    shoot(page, "17-campaign-approved")
