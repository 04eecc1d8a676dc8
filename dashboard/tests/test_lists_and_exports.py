"""What people expect of the dashboard's lists: a campaign's recipients paged, filtered and sorted; CSV downloads of
its recipients and results; analytics over a chosen period; numbers and durations written for people; the status
history; and / and /favicon.ico answering."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.choices import EventType
from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id
from campaigns.choices import RecipientStatus
from campaigns.export import spreadsheet_safe
from campaigns.models import Recipient
from campaigns.services import create_recipient
from dashboard import selectors
from dashboard.templatetags.dashboard_tags import duration, phone
from giftcards.services import redeem

from .factories import make_active, respond


def text(response):
    return response.content.decode()


def listed_names(response):
    """The recipients' names in the list's rows, in order."""
    table = text(response).split('id="recipients"')[1].split("</table>")[0]
    return re.findall(r'<td><a href="/app/recipients/\d+/">([^<]+)</a></td>', table)


def next_after(response):
    match = re.search(r'after=(\d+)" rel="next"', text(response))
    return match.group(1) if match else None


def walk(client, campaign, **params):
    """Every page of the list, following its "Next page" links: the names in order, and how many pages."""
    url = reverse("dashboard:campaign_recipients", args=[campaign.pk])
    names, pages, after = [], 0, None
    while True:
        response = client.get(url, {**params, **({"after": after} if after else {})})
        assert response.status_code == 200
        names += listed_names(response)
        pages += 1
        assert pages <= 20, "the pages go round in circles"
        after = next_after(response)
        if after is None:
            return names, pages


@pytest.fixture
def crowd(world_a):
    """Tenant A's campaign with 7 more recipients (10 in all), two of them sharing a last name, some mailed."""
    campaign = world_a.campaign
    for n, (first, last) in enumerate([("Zoe", "Adams"), ("Amy", "Adams"), ("Bob", "Young"), ("Cy", "Moss"),
                                       ("Di", "Kent"), ("Ed", "Kent"), ("Flo", "Baker")]):
        create_recipient(campaign=campaign, first_name=first, last_name=last, address1=f"{n} Oak St",
                         city="Springfield", postal_code="62701")
    mailed = list(campaign.recipients.order_by("pk").values_list("pk", flat=True))[::3]
    Recipient.objects.filter(pk__in=mailed).update(status=RecipientStatus.MAILED)
    return campaign


# --- The recipient list ---------------------------------------------------------------------

@pytest.mark.parametrize("sort, key, reverse_order", [
    ("name", lambda r: (r.last_name, r.first_name, r.pk), False),
    ("-name", lambda r: (r.last_name, r.first_name, r.pk), True),
    ("created", lambda r: (r.created_at, r.pk), False),
    ("-created", lambda r: (r.created_at, r.pk), True),
    ("status", lambda r: (r.status, r.pk), False),
])
def test_the_list_pages_through_every_recipient_once_in_the_chosen_order(signed_in, world_a, crowd, monkeypatch,
                                                                         sort, key, reverse_order):
    monkeypatch.setattr(selectors, "RECIPIENT_PAGE_SIZE", 3)
    expected = [str(r) for r in sorted(crowd.recipients.all(), key=key, reverse=reverse_order)]
    assert len(expected) == 10
    names, pages = walk(signed_in(world_a.tenant.admin), crowd, sort=sort)
    assert names == expected and pages == 4


def test_the_status_filter_keeps_its_order_across_pages(signed_in, world_a, crowd, monkeypatch):
    monkeypatch.setattr(selectors, "RECIPIENT_PAGE_SIZE", 2)
    client = signed_in(world_a.tenant.member)
    mailed = crowd.recipients.filter(status=RecipientStatus.MAILED).order_by("last_name", "first_name", "pk")
    assert mailed.count() == 4
    assert walk(client, crowd, status="mailed") == ([str(r) for r in mailed], 2)
    page = text(client.get(reverse("dashboard:campaign_recipients", args=[crowd.pk]), {"status": "returned"}))
    assert "No recipient matches these filters." in page


@pytest.mark.parametrize("query", [
    {"sort": "password; DROP TABLE recipients"}, {"sort": "campaign__client__name"}, {"status": "deleted"},
    {"after": "1 OR 1=1"}, {"after": "99999999999999999999999"}, {"after": "-4"}, {"sort": "name\x00"},
])
def test_crafted_list_parameters_are_a_400_that_says_why(signed_in, world_a, query):
    response = signed_in(world_a.tenant.admin).get(
        reverse("dashboard:campaign_recipients", args=[world_a.campaign.pk]), query)
    assert response.status_code == 400
    assert "Please correct the highlighted field" in text(response) and listed_names(response) == []


def test_another_tenants_recipient_as_the_page_start_is_ignored(signed_in, world_a, world_b):
    client = signed_in(world_a.tenant.admin)
    url = reverse("dashboard:campaign_recipients", args=[world_a.campaign.pk])
    first_page = listed_names(client.get(url))
    response = client.get(url, {"after": world_b.recipients[0].pk})
    assert response.status_code == 200 and listed_names(response) == first_page
    assert world_b.recipients[0].last_name not in text(response)


def test_the_list_reads_one_page_without_counting(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    url = reverse("dashboard:campaign_recipients", args=[world_a.campaign.pk])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"sort": "-created", "after": world_a.recipients[2].pk})
    assert listed_names(response) == [str(world_a.recipients[1]), str(world_a.recipients[0])]
    listing = [q["sql"] for q in queries.captured_queries if 'FROM "recipients"' in q["sql"]]
    assert listing and not any("COUNT(" in sql.upper() or "OFFSET" in sql.upper() for sql in listing)
    assert all("LIMIT" in sql for sql in listing)


# --- CSV exports ----------------------------------------------------------------------------

def csv_rows(response):
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_recipients_export_streams_every_recipient_with_formulas_defused(signed_in, world_a, world_b):
    tricky = create_recipient(campaign=world_a.campaign, first_name="=HYPERLINK(\"http://x.example\",\"win\")",
                              last_name="@SUM(A1)", company="+cmd|' /C calc'!A0", address1="-2+3 Main St",
                              city="Springfield", postal_code="62701", phone="(217) 555-0100")
    response = signed_in(world_a.tenant.member).get(
        reverse("dashboard:campaign_recipients_csv", args=[world_a.campaign.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{world_a.campaign.pk}-recipients.csv"'
    header, *rows = csv_rows(response)
    assert header[:4] == ["recipient_id", "first_name", "last_name", "company"]
    assert [int(row[0]) for row in rows] == sorted(r.pk for r in world_a.campaign.recipients.all())
    row = dict(zip(header, rows[-1]))
    assert row["recipient_id"] == str(tricky.pk)
    assert row["first_name"] == "'=HYPERLINK(\"http://x.example\",\"win\")"
    assert (row["last_name"], row["company"], row["address1"]) == ("'@SUM(A1)", "'+cmd|' /C calc'!A0", "'-2+3 Main St")
    assert row["phone"] == "'+12175550100"  # E.164 starts with +: a spreadsheet would compute it
    assert row["status"] == "pending" and row["city"] == "Springfield"
    assert not any(world_b.recipients[0].last_name in cell for r in rows for cell in r)


@pytest.mark.parametrize("value, shown", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Ann", "Ann"), ("a=b", "a=b"), ("", ""), (5, 5), (None, None),
])
def test_spreadsheet_safe_quotes_only_what_would_start_a_formula(value, shown):
    assert spreadsheet_safe(value) == shown


def test_the_results_export_says_who_visited_scanned_called_and_redeemed(signed_in, world_a, installed_at, time_machine,
                                                                       django_capture_on_commit_callbacks):
    time_machine.move_to(installed_at(datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)), tick=False)
    campaign = make_active(world_a.campaign)
    first, second, third = world_a.recipients
    respond(campaign, first, EventType.PURL_VIEWED)
    time_machine.shift(timedelta(hours=1))
    respond(campaign, first, EventType.PURL_VIEWED, EventType.QR_SCANNED)  # later visits keep the first time
    respond(campaign, second, EventType.QR_SCANNED)
    CallSession.objects.create(provider_call_id=new_call_id(), tracking_number=world_a.call.tracking_number,
                               campaign=campaign, caller_phone=first.phone, recipient=first)
    with django_capture_on_commit_callbacks(execute=True):
        redeem(token=second.redemption_token)
    response = signed_in(world_a.tenant.admin).get(reverse("dashboard:campaign_results_csv", args=[campaign.pk]))
    header, *rows = csv_rows(response)
    by_id = {row[0]: dict(zip(header, row)) for row in rows}
    assert list(by_id) == [str(first.pk), str(second.pk), str(third.pk)]
    assert by_id[str(first.pk)] | {"status": ""} == {
        "recipient_id": str(first.pk), "first_name": first.first_name, "last_name": first.last_name, "company": "",
        "email": first.email, "phone": f"'{first.phone}", "status": "",
        "first_visit_at": "2026-11-02T15:04:05+00:00", "first_scan_at": "2026-11-02T16:04:05+00:00",
        "calls": "2", "gift_card_status": "", "gift_card_claimed_at": "", "gift_card_redeemed_at": "",
    }
    claimed = by_id[str(second.pk)]
    assert (claimed["first_visit_at"], claimed["first_scan_at"], claimed["calls"]) == ("", "2026-11-02T16:04:05+00:00",
                                                                                      "0")
    assert claimed["gift_card_status"] in ("claimed", "delivered")
    assert claimed["gift_card_claimed_at"] == "2026-11-02T16:04:05+00:00"
    assert [by_id[str(third.pk)][name] for name in ("first_visit_at", "first_scan_at", "calls", "gift_card_status")] \
        == ["", "", "0", ""]


@pytest.mark.parametrize("name", ["campaign_recipients_csv", "campaign_results_csv", "campaign_recipients"])
def test_another_tenants_campaign_lists_and_exports_are_404(signed_in, world_a, world_b, name):
    client = signed_in(world_a.tenant.admin)
    assert client.get(reverse(f"dashboard:{name}", args=[world_b.campaign.pk])).status_code == 404


# --- Analytics over a chosen period ---------------------------------------------------------

def test_the_campaign_analytics_cover_a_chosen_period(signed_in, world_a, installed_at, time_machine):
    time_machine.move_to(installed_at(datetime(2026, 10, 10, 12, tzinfo=UTC)), tick=False)
    campaign = make_active(world_a.campaign)
    respond(campaign, world_a.recipients[0], EventType.MAIL_SENT, EventType.PURL_VIEWED)
    time_machine.move_to(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False)
    respond(campaign, world_a.recipients[1], EventType.MAIL_SENT, EventType.PURL_VIEWED)
    client = signed_in(world_a.tenant.member)
    url = reverse("dashboard:campaign_detail", args=[campaign.pk])
    everything = text(client.get(url))
    assert "Results so far" in everything and re.search(r"Visited</span><span class=\"kpi-value\">2<", everything)
    november = client.get(url, {"from": "2026-11-01", "to": "2026-11-30"})
    page = text(november)
    assert november.status_code == 200 and "Results from Nov 1, 2026 to Nov 30, 2026" in page
    assert re.search(r"Visited</span><span class=\"kpi-value\">1<", page)
    assert "Daily responses, Nov 1, 2026 to Nov 30, 2026: Visits 1," in page
    assert page.count("<tr><td>Nov ") == 30  # the trend's table: one row per day of the period


@pytest.mark.parametrize("query, message", [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "The end of the period is before its start."),
    ({"from": "2020-01-01", "to": "2026-11-01"}, "Choose a period of at most 800 days."),
    ({"from": "soon", "to": "2026-11-01"}, "Enter a valid date."),
    ({"from": "2026-11-01"}, "This field is required."),
    ({"from": "99999-01-01", "to": "2026-11-01"}, "Enter a valid date."),
])
def test_a_bad_period_is_a_400_with_a_readable_reason_and_the_default_figures(signed_in, world_a, query, message):
    response = signed_in(world_a.tenant.admin).get(reverse("dashboard:campaign_detail", args=[world_a.campaign.pk]),
                                                   query)
    page = text(response)
    assert response.status_code == 400 and message in page and "Results so far" in page


def test_the_api_refuses_the_same_periods(key_client, world_a):
    response = key_client.get(f"/api/v1/campaigns/{world_a.campaign.pk}/analytics/",
                              {"from": "2026-11-30", "to": "2026-11-01"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The end of the period is before its start."


# --- Numbers and durations for people -------------------------------------------------------

@pytest.mark.parametrize("value, shown", [
    ("+16175550134", "(617) 555-0134"), ("+442079460958", "+44 20 7946 0958"), ("anonymous", "anonymous"),
    ("+1234", "+1234"), ("", ""), (None, ""),
])
def test_phone_numbers_are_written_as_people_dial_them(value, shown):
    assert phone(value) == shown


@pytest.mark.parametrize("seconds, shown", [(0, "0:00"), (9, "0:09"), (75, "1:15"), (3599, "59:59"),
                                            (3725, "1:02:05"), (None, "—"), ("x", "x")])
def test_durations_are_minutes_and_seconds(seconds, shown):
    assert duration(seconds) == shown


def test_pages_show_numbers_formatted_and_durations_as_m_ss(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    recipient = text(client.get(reverse("dashboard:recipient_detail", args=[world_a.recipients[0].pk])))
    assert "<dt>Phone</dt><dd>(217) 555-3100</dd>" in recipient and "0:42 · " in recipient
    listing = text(client.get(reverse("dashboard:campaign_recipients", args=[world_a.campaign.pk])))
    assert "<td>(217) 555-3101</td>" in listing
    found = text(client.get(reverse("dashboard:recipient_search"), {"q": world_a.recipients[0].last_name}))
    assert "<td>(217) 555-3100</td>" in found
    agent = signed_in(world_a.tenant.agent)
    screen = text(agent.get(reverse("calltracking:agent_call", args=[world_a.call.pk])))
    assert "Call from (217) 555-3100" in screen and "(0:42)" in screen
    assert "<td>(217) 555-3100</td>" in text(agent.get(reverse("calltracking:agent_calls")))


# --- Status history -------------------------------------------------------------------------

def test_the_status_history_says_who_moved_the_campaign_and_when(signed_in, world_a, key_client, time_machine):
    time_machine.move_to(datetime(2026, 6, 3, 9, 15, tzinfo=UTC), tick=False)
    client = signed_in(world_a.tenant.member)
    client.post(reverse("dashboard:campaign_transition", args=[world_a.campaign.pk]), {"to": "proofed"})
    time_machine.move_to(datetime(2026, 6, 4, 17, 40, tzinfo=UTC), tick=False)
    response = key_client.post(f"/api/v1/campaigns/{world_a.campaign.pk}/transition/", {"to": "draft"},
                               format="json")
    assert response.status_code == 200
    page = text(client.get(reverse("dashboard:campaign_detail", args=[world_a.campaign.pk])))
    entries = re.findall(r"<li><span>([^<]*)</span>\s*<span class=\"muted\">([^<]*)</span></li>",
                         page.split('id="history-title"')[1])
    assert entries == [
        ("Proofed → Draft", f"Jun 4, 17:40 · API key “{world_a.tenant.api_key.name}”"),
        ("Draft → Proofed · proof v1", f"Jun 3, 09:15 · {world_a.tenant.member.email}"),
    ]


# --- / and the favicon ----------------------------------------------------------------------

def test_the_root_sends_people_to_the_dashboard_or_to_sign_in(client, tenant_a):
    assert client.get("/")["Location"] == "/app/"
    assert client.get("/app/")["Location"].startswith("/app/login/")
    client.force_login(tenant_a.member)
    assert client.get(client.get("/")["Location"]).status_code == 200


def test_a_favicon_answers_at_favicon_ico_and_is_linked(client, tenant_a):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/dashboard/favicon.svg"
    assert 'rel="icon" href="/static/dashboard/favicon.svg"' in text(client.get("/app/login/"))
