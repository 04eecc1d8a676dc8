"""Each dashboard page with real data: what it shows, what it does, and readable errors for bad input."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, hash_api_key
from analytics.choices import EventType
from campaigns.choices import CampaignStatus, ImportStatus
from campaigns.models import Campaign, ImportJob, StagedImport
from campaigns.services import create_recipient
from campaigns.tests.factories import csv_bytes, person
from giftcards.models import GiftCard
from giftcards.services import redeem
from mobul.tests.test_strict_csp import inline_code_in

from .factories import make_active, respond


@pytest.fixture
def admin_client(signed_in, world_a):
    return signed_in(world_a.tenant.admin)


def text(response):
    return response.content.decode()


# --- Sign in, password reset ----------------------------------------------------------------

def test_signing_in_lands_on_the_overview(client, tenant_a):
    response = client.post(reverse("login"), {"username": tenant_a.member.email,
                                              "password": "correct horse battery staple"})
    assert response["Location"] == "/app/"
    assert "Overview" in text(client.get("/app/"))
    client.post(reverse("logout"))
    assert client.get("/app/")["Location"].startswith("/app/login/")


def test_password_reset_by_email(client, tenant_a):
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200
    response = client.post(reverse("password_reset"), {"email": tenant_a.member.email})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [tenant_a.member.email]
    link = re.search(r"http://testserver(/app/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in text(form)
    weak = client.post(form.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and "too short" in text(weak)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-much-better-secret-41",
                                                    "new_password2": "a-much-better-secret-41"})
    assert done["Location"] == reverse("password_reset_complete")
    assert client.login(username=tenant_a.member.email, password="a-much-better-secret-41")


# --- Overview -------------------------------------------------------------------------------

def test_overview_shows_live_campaigns_with_their_numbers_and_the_alerts(admin_client, world_a):
    campaign = make_active(world_a.campaign)
    for recipient in world_a.recipients:
        respond(campaign, recipient, EventType.MAIL_SENT)
    respond(campaign, world_a.recipients[0], EventType.PURL_VIEWED, EventType.GIFT_CARD_CLAIMED)
    page = text(admin_client.get(reverse("dashboard:overview")))
    kpis = re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", page)
    assert kpis == [("Mailed", "3"), ("Responses", "1"), ("Redemptions", "1"), ("Calls", "1")]
    assert "Import failed" in page and "people.csv" in page
    assert "Gift-card stock low" not in page
    # 19 of the pool's 20 cards are claimed: 5 % left, under the 10 % threshold.
    GiftCard.objects.filter(pk__in=GiftCard.objects.filter(pool=world_a.pool).values("pk")[:19]).update(
        status="claimed")
    page = text(admin_client.get(reverse("dashboard:overview")))
    assert "Gift-card stock low" in page and "has 1 of 20 cards left" in page


@pytest.mark.parametrize("who", ["admin", "member", "agent"])
def test_overview_lists_only_live_campaigns(signed_in, world_a, world_b, who):
    make_active(world_a.campaign)
    make_active(world_b.campaign)
    client_a = world_a.tenant.client
    for name, status in [("Paused mailer", CampaignStatus.PAUSED), ("Mailed mailer", CampaignStatus.MAILED),
                         ("Finished mailer", CampaignStatus.COMPLETED), ("Dropped mailer", CampaignStatus.CANCELLED),
                         ("Draft mailer", CampaignStatus.DRAFT)]:
        Campaign.objects.create(client=client_a, name=name, status=status)
    page = text(signed_in(getattr(world_a.tenant, who)).get(reverse("dashboard:overview")))
    listed = re.findall(r'<h3><a href="/app/campaigns/\d+/">([^<]+)</a></h3>', page)
    assert sorted(listed) == sorted([world_a.campaign.name, "Paused mailer", "Mailed mailer"])
    assert "3 live campaigns of 6" in page


# --- Campaigns ------------------------------------------------------------------------------

def test_campaign_list_filters(admin_client, world_a):
    Campaign.objects.create(client=world_a.tenant.client, name="Autumn mailer", status=CampaignStatus.COMPLETED)
    url = reverse("dashboard:campaign_list")
    campaign = make_active(world_a.campaign)
    for recipient in world_a.recipients:
        respond(campaign, recipient, EventType.MAIL_SENT)
    respond(campaign, world_a.recipients[0], EventType.PURL_VIEWED)
    row = re.search(rf"{campaign.name}</a></td>(.*?)</tr>", text(admin_client.get(url)), re.S).group(1)
    assert re.findall(r'class="num">(\d+)<', row) == ["3", "1"]  # mailed, responses
    assert "Autumn mailer" in text(admin_client.get(url)) and world_a.campaign.name in text(admin_client.get(url))
    only_done = text(admin_client.get(url, {"status": "completed"}))
    assert "Autumn mailer" in only_done and world_a.campaign.name not in only_done
    assert "Autumn mailer" not in text(admin_client.get(url, {"q": "campaign"}))
    bad = admin_client.get(url, {"status": "exploded", "mail_date_from": "yesterday"})
    assert bad.status_code == 200
    assert "Select a valid choice" in text(bad) and "Enter a valid date" in text(bad)
    assert "No campaign matches these filters." in text(bad)
    reversed_range = text(admin_client.get(url, {"mail_date_from": "2026-05-01", "mail_date_to": "2026-04-01"}))
    assert "start of the mailing range is after its end" in reversed_range


def test_creating_a_campaign_with_bad_input_explains_each_problem(admin_client, world_a, world_b):
    url = reverse("dashboard:campaign_create")
    response = admin_client.post(url, {"name": "", "cost": "-5", "mail_date": "31/31/2026",
                                       "template": world_b.template.pk})
    page = text(response)
    assert response.status_code == 400
    assert "This field is required." in page
    assert "Ensure this value is greater than or equal to 0." in page
    assert "Enter a valid date." in page
    assert "Select a valid choice" in page  # tenant B's template is not offered to tenant A
    assert 'aria-invalid="true"' in page
    assert not Campaign.objects.filter(client=world_a.tenant.client).exclude(pk=world_a.campaign.pk).exists()

    response = admin_client.post(url, {"name": "Winter", "template": world_a.template.pk, "cost": "250.00",
                                       "mail_date": "2030-01-15"})
    campaign = Campaign.objects.get(name="Winter")
    assert response["Location"] == reverse("dashboard:campaign_detail", args=[campaign.pk])
    assert campaign.client == world_a.tenant.client and campaign.status == CampaignStatus.DRAFT
    assert AuditLog.objects.filter(object_type="campaigns.Campaign", object_id=str(campaign.pk),
                                   actor=world_a.tenant.admin).exists()


def test_editing_a_campaign_goes_through_the_service_rules(admin_client, world_a):
    campaign = world_a.campaign
    url = reverse("dashboard:campaign_edit", args=[campaign.pk])
    assert f'value="{campaign.name}"' in text(admin_client.get(url))
    response = admin_client.post(url, {"name": "Renamed", "template": world_a.template.pk})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"

    make_active(campaign)
    from campaigns.tests.factories import MailTemplateFactory
    other_template = MailTemplateFactory(client=world_a.tenant.client)
    locked = admin_client.post(url, {"name": "Renamed", "template": other_template.pk})
    assert locked.status_code == 400
    assert "template cannot change once the campaign is Active" in text(locked)


def test_lifecycle_buttons_offer_only_the_allowed_next_steps(admin_client, world_a):
    campaign = world_a.campaign
    detail = reverse("dashboard:campaign_detail", args=[campaign.pk])

    def buttons():
        return re.findall(r'name="to" value="(\w+)"', text(admin_client.get(detail)))

    assert buttons() == ["proofed", "cancelled"]
    refused = admin_client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "mailed"},
                                follow=True)
    assert "cannot go from Draft to Mailed" in text(refused)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    unknown = admin_client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "nope"},
                                follow=True)
    assert "Choose one of the next steps" in text(unknown)
    admin_client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "proofed"})
    assert buttons() == ["approved", "draft", "cancelled"]
    # Approving needs a mail date later; scheduling without one is refused with the service's reason.
    admin_client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "approved"})
    refused = admin_client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "scheduled"},
                                follow=True)
    assert "Set a mail date first." in text(refused)


def test_campaign_detail_draws_the_funnel_and_the_daily_trend(admin_client, world_a):
    campaign = make_active(world_a.campaign)
    for recipient in world_a.recipients:
        respond(campaign, recipient, EventType.MAIL_SENT)
    respond(campaign, world_a.recipients[0], EventType.PURL_VIEWED, EventType.GIFT_CARD_CLAIMED)
    page = text(admin_client.get(reverse("dashboard:campaign_detail", args=[campaign.pk])))
    assert re.search(r"<title[^>]*>Funnel: Mailed 3, Delivered 0, Visited 1, Called 0, Redeemed 1</title>", page)
    assert page.count('class="funnel-bar"') == 3
    assert page.count("<polyline") == 4
    assert "Visits <strong>1</strong>" in page and "Rewards claimed <strong>1</strong>" in page
    assert "<span>(217) 555-3100 · " in page  # recent calls, the caller's number formatted
    assert "20 free of 20" in page  # reward stock
    week = text(admin_client.get(reverse("dashboard:campaign_detail", args=[campaign.pk]), {"days": "7"}))
    assert "last 7 days" in week
    assert "last 30 days" in text(admin_client.get(reverse("dashboard:campaign_detail", args=[campaign.pk]),
                                                   {"days": "-1"}))


def test_print_export_downloads(admin_client, world_a):
    url = reverse("dashboard:campaign_export", args=[world_a.campaign.pk])
    response = admin_client.get(url, {"output": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Disposition"].endswith('.csv"')
    assert all(recipient.last_name in body for recipient in world_a.recipients)
    zipped = admin_client.get(url, {"output": "zip"})
    assert zipped["Content-Type"] == "application/zip" and b"".join(zipped.streaming_content)[:2] == b"PK"
    wrong = admin_client.get(url, {"output": "pdf"}, follow=True)
    assert "Choose CSV or ZIP" in text(wrong)


# --- Recipients and imports -----------------------------------------------------------------

@pytest.mark.parametrize("query", ["first_last", "last", "phone", "email", "code", "token"])
def test_recipient_search_finds_by_every_identifier(admin_client, world_a, query):
    person_ = world_a.recipients[1]
    typed = {
        "first_last": f"{person_.first_name} {person_.last_name}", "last": person_.last_name.lower(),
        "phone": "217-555-" + person_.phone[-4:], "email": person_.email.upper(),
        "code": f"{person_.short_code[:5].lower()}-{person_.short_code[5:].lower()}", "token": person_.redemption_token,
    }[query]
    page = text(admin_client.get(reverse("dashboard:recipient_search"), {"q": typed}))
    assert reverse("dashboard:recipient_detail", args=[person_.pk]) in page
    others = [r for r in world_a.recipients if r != person_]
    assert not any(reverse("dashboard:recipient_detail", args=[r.pk]) in page for r in others)


def test_recipient_timeline_lists_events_newest_first(admin_client, world_a):
    campaign = make_active(world_a.campaign)
    recipient = world_a.recipients[0]
    respond(campaign, recipient, EventType.MAIL_SENT, EventType.QR_SCANNED)
    page = text(admin_client.get(reverse("dashboard:recipient_detail", args=[recipient.pk])))
    assert page.index("QR code scanned") < page.index("Mail sent")
    assert recipient.purl in page


@pytest.mark.parametrize("who", ["admin", "member"])
def test_the_timeline_names_the_channels_a_card_was_delivered_by(signed_in, world_a, who,
                                                                 django_capture_on_commit_callbacks):
    by_both = world_a.recipients[0]  # has an email address and a phone number
    by_email = create_recipient(campaign=world_a.campaign, first_name="Eve", last_name="Mailonly",
                                address1="9 Elm St", city="Springfield", state="IL", postal_code="62701",
                                email="eve@example.com")
    make_active(world_a.campaign)
    for person_ in (by_both, by_email):
        with django_capture_on_commit_callbacks(execute=True):
            redeem(token=person_.redemption_token)
    client = signed_in(getattr(world_a.tenant, who))

    def delivered_line(person_):
        page = text(client.get(reverse("dashboard:recipient_detail", args=[person_.pk])))
        return re.search(r"Gift card delivered</span>\s*<span[^>]*>([^<]*)</span>", page).group(1)

    assert delivered_line(by_both) == "via email and SMS"
    assert delivered_line(by_email) == "via email"


def upload_for_mapping(client, campaign, upload, on_error="skip"):
    """Step 1 of a dashboard import: the upload, answered with the mapping page's address."""
    response = client.post(reverse("dashboard:recipient_import", args=[campaign.pk]),
                           {"file": upload, "on_error": on_error})
    staged = StagedImport.objects.get(campaign=campaign, original_filename=upload.name)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:campaign_import_mapping", args=[staged.pk])
    return response["Location"]


def map_columns_as_suggested(client, mapping_url):
    """Step 2, the page's own selection posted back."""
    page = text(client.get(mapping_url))
    selected = dict(re.findall(r'<select name="(column_\d+)".*?<option value="([^"]*)"[^>]*selected', page, re.S))
    return client.post(mapping_url, {**selected, "import": ""})


def test_importing_recipients_shows_progress_then_the_result(admin_client, world_a, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("new.csv", csv_bytes([person(n) for n in range(10, 15)] + [person(16, email="x@")]))
    mapping_url = upload_for_mapping(admin_client, world_a.campaign, upload)
    with django_capture_on_commit_callbacks(execute=True):
        response = map_columns_as_suggested(admin_client, mapping_url)
    job = ImportJob.objects.get(original_filename="new.csv")
    assert response["Location"] == reverse("dashboard:import_progress", args=[job.pk])
    page = text(admin_client.get(response["Location"]))
    assert 'data-import-status-url="' in page and 'value="100"' in page
    status = json.loads(admin_client.get(reverse("dashboard:import_status", args=[job.pk])).content)
    assert status["finished"] and status["percent"] == 100 and status["status"] == ImportStatus.COMPLETED
    assert "Import finished" in status["result_html"] and "Download the error report" in status["result_html"]
    report = admin_client.get(reverse("dashboard:import_errors", args=[job.pk]))
    assert b"email" in b"".join(report.streaming_content)
    assert world_a.campaign.recipients.count() == 3 + 5
    # The row errors are on the page, not only in the report.
    assert re.search(r'<td class="num">7</td><td>email</td><td>[^<]*not a valid email', status["result_html"])


def test_a_running_import_reports_its_progress_without_a_result(admin_client, world_a):
    job = world_a.import_job
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, rows_done=40, rows_total=100)
    status = json.loads(admin_client.get(reverse("dashboard:import_status", args=[job.pk])).content)
    assert status == {**status, "finished": False, "percent": 40, "result_html": ""}
    page = text(admin_client.get(reverse("dashboard:import_progress", args=[job.pk])))
    assert 'http-equiv="refresh"' in page  # still moves without JavaScript
    assert '<div id="import-bar">' in page


@pytest.mark.parametrize("who", ["admin", "member", "agent"])
def test_a_failed_import_shows_its_error_and_no_progress_bar(signed_in, world_a, who):
    job = world_a.import_job  # failed after reading both of its rows: its percent stops short, at 99
    client = signed_in(getattr(world_a.tenant, who))
    page = text(client.get(reverse("dashboard:import_progress", args=[job.pk])))
    assert re.search(r'<div id="import-bar" hidden>\s*<progress', page)
    assert '<span id="import-state" class="badge badge-import-failed">Failed</span>' in page
    assert "Nothing was imported" in page and job.error_message in page
    assert 'http-equiv="refresh"' not in page
    status = json.loads(client.get(reverse("dashboard:import_status", args=[job.pk])).content)
    assert status["finished"] and status["failed"] and status["status_label"] == "Failed"
    assert job.error_message in status["result_html"]


@pytest.mark.parametrize("upload, message", [
    (None, "This field is required."),
    (SimpleUploadedFile("empty.csv", b""), "The submitted file is empty."),
    (SimpleUploadedFile("photo.csv", b"\x89PNG\x00\x00binary"), "not a CSV file"),
    (SimpleUploadedFile("latin1.csv", "name,city\nJosé,Münster\n".encode("latin-1") * 2000), "not UTF-8"),
    (SimpleUploadedFile("blank.csv", b"\n\nAnn,12345\n"), "The file is empty"),
    (SimpleUploadedFile("noheader.csv", b",,\nAnn,Main St,12345\n"), "no header row"),
])
def test_an_unusable_recipient_file_is_refused_with_the_reason(admin_client, world_a, upload, message):
    data = {"on_error": "reject", **({"file": upload} if upload else {})}
    response = admin_client.post(reverse("dashboard:recipient_import", args=[world_a.campaign.pk]), data)
    assert response.status_code == 400 and message in text(response)
    assert ImportJob.objects.filter(campaign=world_a.campaign).count() == 1
    assert StagedImport.objects.filter(campaign=world_a.campaign).count() == 1  # the world's own


def test_importing_into_a_frozen_campaign_is_refused(admin_client, world_a):
    make_active(world_a.campaign)
    upload = SimpleUploadedFile("late.csv", csv_bytes([person(1)]))
    response = admin_client.post(reverse("dashboard:recipient_import", args=[world_a.campaign.pk]),
                                 {"file": upload, "on_error": "reject"})
    assert response.status_code == 400 and "can only change while it is a draft or proofed" in text(response)


# --- Gift cards -----------------------------------------------------------------------------

def test_pool_pages_show_stock_and_warn_when_low(admin_client, world_a):
    page = text(admin_client.get(reverse("dashboard:pool_list")))
    assert "<strong>20</strong> free of 20" in page and "Running low" not in page
    GiftCard.objects.filter(pk__in=GiftCard.objects.filter(pool=world_a.pool).values("pk")[:19]).update(
        status="claimed")
    page = text(admin_client.get(reverse("dashboard:pool_list")))
    assert "Running low" in page and "<strong>1</strong> free of 20" in page
    assert '<meter class="stock stock-low"' in page


def test_uploading_codes_and_assigning_cards(admin_client, world_a, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("codes.csv", b"code\nNEW-0001\nNEW-0002\nNEW-0002\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("dashboard:pool_upload", args=[world_a.pool.pk]),
                                     {"file": upload, "on_error": "skip"})
    job = ImportJob.objects.get(original_filename="codes.csv")
    assert response["Location"] == reverse("dashboard:import_progress", args=[job.pk])
    assert job.pool == world_a.pool and GiftCard.objects.filter(pool=world_a.pool).count() == 22
    assert "Back to the pool" in json.loads(admin_client.get(reverse("dashboard:import_status", args=[job.pk]))
                                            .content)["result_html"]

    bad = admin_client.post(reverse("dashboard:pool_upload", args=[world_a.pool.pk]),
                            {"file": SimpleUploadedFile("x.csv", b"serial\n1\n"), "on_error": "skip"})
    assert bad.status_code == 400 and "exactly one code column" in text(bad)

    response = admin_client.post(reverse("dashboard:pool_assign", args=[world_a.pool.pk]),
                                 {"campaign": world_a.campaign.pk, "confirmed": "true"}, follow=True)
    page = text(response)
    assert "3</strong> cards assigned" in page and "Every recipient of the campaign has a card." in page
    assert "3 card(s) assigned" in page


def test_assigning_to_another_tenants_campaign_is_not_offered(admin_client, world_a, world_b):
    response = admin_client.post(reverse("dashboard:pool_assign", args=[world_a.pool.pk]),
                                 {"campaign": world_b.campaign.pk})
    assert response.status_code == 400 and "Select a valid choice" in text(response)
    assert not world_b.campaign.recipients.filter(gift_card__isnull=False).exists()


# --- Calls ----------------------------------------------------------------------------------

# The world's call as the log shows its caller: the number formatted for people.
CALL_ROW = "<td>(217) 555-3100</td>"


def test_call_log_filters_and_plays_recordings(admin_client, world_a):
    url = reverse("dashboard:call_log")
    assert world_a.call.caller_phone == "+12175553100"
    page = text(admin_client.get(url))
    assert CALL_ROW in page and '<td class="num">0:42</td>' in page
    assert "No call matches" in text(admin_client.get(url, {"matched": "false"}))
    assert CALL_ROW in text(admin_client.get(url, {"caller": "(217) 555-3100"}))
    assert CALL_ROW in text(admin_client.get(url, {"status": "completed", "matched": "true",
                                                   "campaign": world_a.campaign.pk}))
    today = world_a.call.call_started_at.date()
    assert CALL_ROW in text(admin_client.get(url, {"started_from": today, "started_to": today}))
    assert "No call matches" in text(admin_client.get(url, {"started_from": today + timedelta(days=1)}))
    bad = admin_client.get(url, {"started_from": "soon", "caller": "call me", "status": "exploded"})
    page = text(bad)
    assert bad.status_code == 200 and "Enter a valid date." in page and "Enter a phone number" in page
    assert "Select a valid choice" in page and CALL_ROW not in page
    recording = admin_client.get(reverse("dashboard:call_recording", args=[world_a.call.pk]))
    assert recording.status_code == 302
    assert recording["Location"].startswith(f"{settings.PUBLIC_BASE_URL}/app/calls/recordings/")
    assert AuditLog.objects.filter(object_id=str(world_a.call.pk), action="reveal").exists()


def test_a_call_without_a_recording_says_so(admin_client, world_a):
    world_a.call.recording = None
    world_a.call.save()
    response = admin_client.get(reverse("dashboard:call_recording", args=[world_a.call.pk]), follow=True)
    assert response.status_code == 200 and "recording" in text(response).lower()


# --- Settings -------------------------------------------------------------------------------

def test_api_key_is_shown_once_and_listed_by_prefix(admin_client, world_a):
    url = reverse("dashboard:api_keys")
    bad = admin_client.post(url, {"name": "", "scopes": ["admin"]})
    assert bad.status_code == 400
    assert "This field is required." in text(bad) and "Select a valid choice. admin is not one" in text(bad)
    created = admin_client.post(url, {"name": "CRM sync", "scopes": ["read", "write"]})
    raw = re.search(r'value="(mbl_[^"]+)"', text(created)).group(1)
    assert created["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(key_hash=hash_api_key(raw))
    assert key.client == world_a.tenant.client and key.scopes == ["read", "write"]
    listing = text(admin_client.get(url))
    assert raw not in listing and f"mbl_{key.prefix}_…" in listing
    response = admin_client.post(reverse("dashboard:api_key_revoke", args=[key.pk]), follow=True)
    assert f"Key {key.prefix}… is revoked" in text(response)
    key.refresh_from_db()
    assert key.revoked_at is not None
    again = admin_client.post(reverse("dashboard:api_key_revoke", args=[key.pk]), follow=True)
    assert "already revoked" in text(again)


def test_team_lists_members_with_their_roles(signed_in, world_a, agency_admin_a):
    page = text(signed_in(world_a.tenant.member).get(reverse("dashboard:team")))
    for user, role in [(world_a.tenant.admin, "Client admin"), (world_a.tenant.member, "Client member"),
                       (world_a.tenant.agent, "Call-center agent"), (agency_admin_a, "Agency admin")]:
        assert user.email in page
        assert role in page


# --- Caching --------------------------------------------------------------------------------

def test_slow_pages_are_revalidated_with_an_etag_and_never_stale_after_a_save(admin_client, world_a):
    url = reverse("dashboard:campaign_list")
    first = admin_client.get(url)
    assert first["Cache-Control"] == "private, no-cache" and "Cookie" in first["Vary"]
    etag = first["ETag"]
    again = admin_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again["ETag"] == etag
    admin_client.post(reverse("dashboard:campaign_create"), {"name": "Fresh one"})
    admin_client.get(url)  # the success message is shown once
    after_save = admin_client.get(url, headers={"If-None-Match": etag})
    assert after_save.status_code == 200 and "Fresh one" in text(after_save)
    for name in ("pool_list", "team", "api_keys"):
        response = admin_client.get(reverse(f"dashboard:{name}"))
        assert admin_client.get(reverse(f"dashboard:{name}"),
                                headers={"If-None-Match": response["ETag"]}).status_code == 304, name


def test_pages_that_change_by_the_second_are_never_cached(admin_client, world_a):
    for url in (reverse("dashboard:overview"), reverse("dashboard:import_progress", args=[world_a.import_job.pk]),
                reverse("dashboard:import_status", args=[world_a.import_job.pk]), reverse("dashboard:call_log")):
        assert "no-store" in admin_client.get(url)["Cache-Control"], url


# --- Strict Content-Security-Policy (templates: mobul/tests/test_strict_csp.py) ---------------------

def test_rendered_pages_have_no_inline_code_either(admin_client, world_a):
    for url in (reverse("dashboard:overview"), reverse("dashboard:campaign_detail", args=[world_a.campaign.pk]),
                reverse("dashboard:pool_detail", args=[world_a.pool.pk]), reverse("dashboard:api_keys"),
                reverse("dashboard:call_log"), reverse("calltracking:agent_calls"), reverse("login"),
                reverse("dashboard:team")):
        assert not inline_code_in(text(admin_client.get(url))), url


@pytest.mark.parametrize("query", [{"days": "²"}, {"days": "7x"}, {"days": "99999999999999999999"}])
def test_unusual_digits_in_the_trend_period_fall_back_to_the_default(client, tenant_a, query):
    campaign = Campaign.objects.create(client=tenant_a.client, name="Spring")
    client.force_login(tenant_a.admin)
    assert client.get(f"/app/campaigns/{campaign.pk}/", query).status_code == 200
