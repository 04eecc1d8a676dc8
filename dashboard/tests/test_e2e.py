"""The dashboard as a person uses it: headless Chromium (Debian's, driven by Playwright) against a live server.

Every response gets a strict Content-Security-Policy on its way to the browser, and any violation fails the
test: the dashboard must work with no inline script, handler or style. Screenshots of the main pages land in
test-artifacts/screenshots/.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections

from accounts.models import Membership
from analytics.choices import EventType
from campaigns.choices import CampaignStatus, ImportStatus
from campaigns.models import Campaign, ImportJob
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory, csv_bytes, person
from giftcards.tests.factories import GiftCardPoolFactory, stock
from mailpieces.tests.factories import ready_proof

from .factories import make_active, respond

CHROMIUM = os.environ.get("MOBUL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (Path(CHROMIUM).exists() or shutil.which("chromium")),
                       reason=f"Chromium is not installed ({CHROMIUM}): apt-get install chromium chromium-driver "
                              "(.ci/run does) to run the dashboard's browser tests"),
]


@pytest.fixture
def browser_page(transactional_db, live_server, tmp_path, monkeypatch):
    # transactional_db first: the test database is set up before the (session-long) live server, so the
    # server stops, and lets go of its connections, before the database is dropped.
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    violations = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM if Path(CHROMIUM).exists()
            else shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS, viewport={"width": 1360, "height": 900},
            base_url=live_server.url,
        )

        def with_csp(route):
            response = route.fetch(max_redirects=0)
            route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

        context.route(re.compile(re.escape(live_server.url) + ".*"), with_csp)
        page = context.new_page()
        # Script errors and CSP refusals fail the test; HTTP statuses (a 400 form page) are the tests' business.
        page.on("console", lambda message: violations.append(message.text) if message.type == "error"
                and not message.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda error: violations.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())
        page.set_default_timeout(15_000)
        yield page
        context.close()
        # While Playwright's loop runs, Django keeps this thread's connections in a context-local store that
        # the test database teardown never sees: close them here, or the database cannot be dropped.
        connections.close_all()
    assert not violations, f"browser errors or CSP violations: {violations}"


def shoot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, user):
    page.goto("/app/")
    assert "/app/login/" in page.url
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/app/")


def test_sign_in_create_a_campaign_import_recipients_and_see_the_funnel(browser_page, live_server, tenant_a):
    page = browser_page
    template = MailTemplateFactory(client=tenant_a.client, name="Spring postcard")
    pool = GiftCardPoolFactory(client=tenant_a.client, name="Spring rewards")
    stock(pool, 50)

    page.goto("/app/login/")
    shoot(page, "01-sign-in")
    page.get_by_label("Email").fill(tenant_a.admin.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "correct email and password" in page.get_by_role("alert").inner_text()
    sign_in(page, tenant_a.admin)
    assert page.get_by_role("heading", name="Overview").is_visible()

    # Create a campaign.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_role("button", name="Create campaign").click()
    assert "This field is required." in page.locator(".field-error").first.inner_text()
    page.get_by_label("Name").fill("Summer check-up")
    page.get_by_label("Mail template").select_option(label=template.name)
    page.get_by_label("Gift-card pool").select_option(label=str(pool))
    page.get_by_label("Cost").fill("1200.00")
    shoot(page, "02-campaign-form")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_text("created as a draft").wait_for()
    campaign = Campaign.objects.get(client=tenant_a.client, name="Summer check-up")
    assert campaign.template == template and campaign.status == CampaignStatus.DRAFT

    # Import recipients, one row invalid: skip it, watch the bar reach 100 %, get the error report.
    page.get_by_role("link", name="Import recipients").click()
    rows = [person(n) for n in range(1, 31)] + [person(99, phone="not a phone")]
    page.get_by_label("CSV file").set_input_files(
        {"name": "summer.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows)})
    page.get_by_label("Import the valid rows, report the others").check()
    page.get_by_role("button", name="Upload and match columns").click()
    page.wait_for_url("**/app/imports/staged/*/")
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url("**/app/imports/*/")
    page.locator('#import[data-polled="true"][data-finished="true"]').wait_for()
    assert page.locator("#import-progress").evaluate("bar => bar.value") == 100
    assert page.locator("#import-percent").inner_text() == "100"
    result = page.locator(".import-result")
    assert "Import finished" in result.inner_text()
    assert result.locator("dd").first.inner_text() == "30"
    assert page.get_by_role("link", name="Download the error report (CSV)").is_visible()
    shoot(page, "03-import-progress")
    assert campaign.recipients.count() == 30

    # Lifecycle: only the allowed next steps are offered (proofing needs a proof: test_proof_e2e makes one).
    ready_proof(campaign)
    page.get_by_role("link", name="Back to the campaign").click()
    buttons = page.locator(".lifecycle-buttons button").all_inner_texts()
    assert buttons == ["Mark proofed", "Cancel"]
    page.get_by_role("button", name="Mark proofed").click()
    page.get_by_text("The campaign is now proofed.").wait_for()
    assert page.locator(".lifecycle-buttons button").all_inner_texts() == ["Approve proof", "Back to draft", "Cancel"]

    # Responses come in: the funnel and the trend chart draw them.
    make_active(campaign)
    people = list(campaign.recipients.order_by("pk"))
    for recipient in people[:20]:
        respond(campaign, recipient, EventType.MAIL_SENT)
    for recipient in people[:8]:
        respond(campaign, recipient, EventType.PURL_VIEWED)
    for recipient in people[:3]:
        respond(campaign, recipient, EventType.CALL_STARTED)
    page.reload()
    funnel = page.locator('[data-chart="funnel"] svg')
    funnel.wait_for()
    assert funnel.locator("rect.funnel-bar").count() == 3  # mailed, visited, called; nothing delivered or redeemed
    assert funnel.bounding_box()["height"] > 100
    assert "Mailed 20" in funnel.locator("title").text_content() and "Visited 8" in funnel.locator("title").text_content()
    assert page.locator('[data-chart="trend"] polyline').count() == 4
    assert page.locator(".kpi-value").nth(2).inner_text() == "8"
    shoot(page, "04-campaign-detail")

    page.get_by_role("link", name="Overview").click()
    assert page.get_by_role("link", name="Summer check-up").is_visible()
    shoot(page, "05-overview")
    page.get_by_role("link", name="Recipients").click()
    page.get_by_label("Search", exact=True).fill(people[0].last_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=str(people[0])).first.click()
    assert page.get_by_text("PURL viewed").is_visible()
    shoot(page, "06-recipient-timeline")
    page.get_by_role("link", name="Gift cards").click()
    shoot(page, "07-gift-cards")
    page.get_by_role("link", name="Calls", exact=True).click()
    shoot(page, "08-calls")


def test_create_an_api_key_see_it_once_and_revoke_it(browser_page, live_server, tenant_a):
    page = browser_page
    sign_in(page, tenant_a.admin)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create key").click()
    raw_key = page.get_by_label("New API key").input_value()
    assert raw_key.startswith("mbl_")
    shoot(page, "09-api-key-created")

    me = f"{live_server.url}/api/v1/me/"
    assert requests.get(me, headers={"Authorization": f"Bearer {raw_key}"}, timeout=10).status_code == 200

    page.goto("/app/settings/api-keys/")
    assert raw_key not in page.content()
    prefix = raw_key.split("_")[1]
    row = page.locator(f'tr[data-key-prefix="{prefix}"]')
    assert "Active" in row.inner_text()
    row.get_by_role("button", name="Revoke").click()
    page.get_by_text(f"Key {prefix}… is revoked").wait_for()
    assert "Revoked" in page.locator(f'tr[data-key-prefix="{prefix}"]').inner_text()
    shoot(page, "10-api-keys")
    assert requests.get(me, headers={"Authorization": f"Bearer {raw_key}"}, timeout=10).status_code == 401


def test_a_phone_sized_screen_gets_the_menu_behind_a_button(browser_page, tenant_a):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, tenant_a.member)
    sidebar = page.locator(".sidebar")
    assert not sidebar.get_by_role("link", name="Campaigns").is_visible() or sidebar.bounding_box()["x"] < 0
    page.locator(".nav-button").click()
    sidebar.get_by_role("link", name="Campaigns").click()
    page.wait_for_url("**/app/campaigns/")
    # A member may run campaigns but not manage API keys: the menu does not offer them.
    assert page.get_by_role("link", name="API keys").count() == 0
    shoot(page, "11-mobile-campaigns")


def test_invite_a_member_change_their_role_and_remove_them(browser_page, tenant_a):
    page = browser_page
    sign_in(page, tenant_a.admin)
    page.get_by_role("link", name="Team").click()
    page.get_by_role("button", name="Send invitation").click()
    assert "This field is required." in page.locator(".field-error").first.inner_text()
    page.get_by_label("Email").fill("nina.park@example.com")
    page.get_by_label("Name").fill("Nina Park")
    page.get_by_label("Role", exact=True).select_option(label="Call-center agent")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("nina.park@example.com is now a Call-center agent of Client a").wait_for()
    row = page.locator('tr[data-member="nina.park@example.com"]')
    assert "Nina Park" in row.inner_text() and "Invited" in row.inner_text()
    [invitation] = [email for email in mail.outbox if email.to == ["nina.park@example.com"]]
    assert "/app/password-reset/" in invitation.body

    role = row.get_by_label("Role of nina.park@example.com")
    role.select_option(label="Client member")
    row.get_by_role("button", name="Change role").click()
    page.get_by_text("nina.park@example.com is now a Client member.").wait_for()
    assert role.input_value() == "client_member"
    shoot(page, "12-team")

    # The only client admin cannot step down: the page says why.
    own = page.locator(f'tr[data-member="{tenant_a.admin.email}"]')
    own.get_by_label(f"Role of {tenant_a.admin.email}").select_option(label="Client member")
    own.get_by_role("button", name="Change role").click()
    page.get_by_text("only client admin").wait_for()

    page.locator('tr[data-member="nina.park@example.com"]').get_by_role("button", name="Remove").click()
    page.get_by_text("nina.park@example.com no longer has access to Client a.").wait_for()
    assert page.locator('tr[data-member="nina.park@example.com"]').count() == 0
    assert not Membership.objects.filter(user__email="nina.park@example.com").exists()


def test_public_pages_keep_their_look_under_the_strict_policy(browser_page, tenant_a):
    """The PURL pages and the 404 page take their styles from a static file (no inline style to refuse)."""
    page = browser_page
    campaign = CampaignFactory(client=tenant_a.client, name="Spring smile", offer="A free kit")
    recipient = create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                                 city="Boston", state="MA", postal_code="02108")
    make_active(campaign)
    for url in (f"/r/{recipient.redemption_token}", "/r/", "/no-such-page/"):
        page.goto(url)
        card = page.locator(".card")
        assert card.evaluate("card => getComputedStyle(card).backgroundColor") == "rgb(255, 255, 255)", url
        assert card.evaluate("card => getComputedStyle(card).borderRadius") == "14px", url
    page.goto(f"/r/{recipient.redemption_token}")
    # The greeting is its own line; the heading is the campaign.
    assert page.locator(".greeting").inner_text() == "Hello Ann," and page.locator("h1").inner_text() == "Spring smile"
    shoot(page, "13-purl-landing")


def test_an_import_that_fails_while_watched_shows_why_instead_of_a_bar(browser_page, tenant_a):
    """The page is open while the job runs; the polling script meets the failure (the bar had stayed at 99 %)."""
    page = browser_page
    campaign = CampaignFactory(client=tenant_a.client, name="Autumn list")
    upload = SimpleUploadedFile("autumn.csv", csv_bytes([person(n) for n in range(4)]), content_type="text/csv")
    job = ImportJob.objects.create(client=tenant_a.client, campaign=campaign, file=upload,
                                   original_filename="autumn.csv", size_bytes=upload.size,
                                   status=ImportStatus.RUNNING, rows_total=4, rows_done=2)
    sign_in(page, tenant_a.admin)
    page.goto(f"/app/imports/{job.pk}/")
    page.locator('#import[data-polled="true"]').wait_for()
    assert page.locator("#import-progress").is_visible()
    assert page.locator("#import-percent").inner_text() == "50"
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, rows_done=4, rows_imported=0,
        error_message="The file could not be read past row 4: bad quoting. Save it as CSV UTF-8.")
    page.locator('#import[data-finished="true"]').wait_for()
    assert page.locator("#import-state").inner_text() == "Failed"
    assert not page.locator("#import-progress").is_visible()
    assert not page.locator("#import-percent").is_visible()
    assert "could not be read past row 4" in page.get_by_role("alert").inner_text()
    shoot(page, "14-import-failed")


def test_assigning_cards_shows_a_preview_and_waits_for_the_confirmation(browser_page, tenant_a):
    page = browser_page
    pool = GiftCardPoolFactory(client=tenant_a.client, name="Shared rewards")
    stock(pool, 4)
    live = make_active(CampaignFactory(client=tenant_a.client, name="Winter smile", gift_card_pool=pool))
    target = CampaignFactory(client=tenant_a.client, name="Spring smile")
    for n in range(6):
        create_recipient(campaign=target, first_name=f"Sam{n}", last_name="Fox", address1=f"{n} Main St",
                         city="Boston", state="MA", postal_code="02108")
    Campaign.objects.create(client=tenant_a.client, name="Last year", status=CampaignStatus.COMPLETED)
    sign_in(page, tenant_a.admin)
    page.goto(f"/app/gift-cards/{pool.pk}/")
    choice = page.get_by_label("Campaign")
    assert choice.locator("option").all_inner_texts() == ["Choose a campaign", str(target), str(live)]
    choice.select_option(label=str(target))
    page.get_by_role("button", name="Preview the assignment").click()
    page.get_by_role("heading", name="What the assignment would do").wait_for()
    assert page.locator('[data-preview="cards_to_take"]').inner_text() == "4"
    assert page.locator('[data-preview="shortfall"]').inner_text() == "2"
    assert "“Winter smile” (active) also draws on this pool" in page.locator(
        f'[data-sharing-campaign="{live.pk}"]').inner_text()
    shoot(page, "15-assignment-preview")
    assert not target.recipients.filter(gift_card__isnull=False).exists()
    page.get_by_role("button", name="Assign 4 cards").click()
    page.get_by_text("4 card(s) assigned to “Spring smile”.").wait_for()
    assert target.recipients.filter(gift_card__isnull=False).count() == 4
