import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import CampaignDailyFunnel, EventIngestKey, PendingRollup, RecipientStage
from analytics.services import record_event
from calltracking.models import CallSession, RecordingArchive
from calltracking.tests.factories import tracking_number_for
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from mobul.admin import EstimatedCountPaginator

pytestmark = pytest.mark.django_db

EVENTS = reverse("admin:analytics_eventrecord_changelist")


def change_links(page, name):
    return re.findall(rf'href="(/admin/analytics/{name}/[^"?]+/change/)', page)


@pytest.fixture
def events(installed_at, campaign, tenant_b):
    """Events of two campaigns (two tenants) in November and December 2026."""
    now = installed_at(datetime(2026, 12, 2, 12, tzinfo=UTC))
    other = Campaign.objects.create(client=tenant_b.client, name="Their mailing")
    Campaign.objects.filter(pk__in=[campaign.pk, other.pk]).update(status=CampaignStatus.ACTIVE)
    made = [
        record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=7, occurred_at=now,
                     payload={"user_agent": "Phone/1.0"}),
        record_event(event_type="qr_scanned", source="qr", campaign=campaign, occurred_at=now - timedelta(days=3)),
        record_event(event_type="purl_viewed", source="purl", campaign=other, occurred_at=now - timedelta(hours=1)),
    ]
    return campaign, other, made


def listed(staff_client, **params):
    response = staff_client.get(EVENTS, params)
    assert response.status_code == 200
    return [event.id for event in response.context["cl"].result_list]


def test_events_list_newest_first_and_filter_by_month_campaign_and_type(staff_client, events):
    campaign, other, (viewed, scanned, theirs) = events
    assert listed(staff_client) == [theirs.id, scanned.id, viewed.id]  # by id: arrival order
    assert listed(staff_client, month="2026-11") == [scanned.id]
    assert listed(staff_client, campaign=campaign.pk) == [scanned.id, viewed.id]
    assert listed(staff_client, campaign=campaign.pk, event_type="purl_viewed") == [viewed.id]
    assert listed(staff_client, source="qr") == [scanned.id]
    assert listed(staff_client, q="7") == [viewed.id]
    for not_an_id in ("not-an-id", "²", str(2 ** 63)):
        assert listed(staff_client, q=not_an_id) == []
    page = staff_client.get(EVENTS).content.decode()
    assert "December 2026" in page and "November 2026" in page  # the months are the partitions
    # A value no filter can use is a redirect with ?e=1, never a 500.
    for bad in ({"month": "2026-13"}, {"month": "soon"}, {"month": "9999-12"}, {"campaign": "abc"}, {"campaign": "²"},
                {"campaign": str(2 ** 63)}):
        assert staff_client.get(EVENTS, bad).status_code == 302


def test_an_event_opens_by_its_whole_key_and_nothing_can_be_written(staff_client, events, tenant_a):
    campaign, other, (viewed, scanned, theirs) = events
    page = staff_client.get(EVENTS, {"q": "7"}).content.decode()
    (link,) = change_links(page, "eventrecord")
    assert link == reverse("admin:analytics_eventrecord_change",
                           args=[quote(f"{viewed.id},{viewed.created_at}")])
    detail = staff_client.get(link)
    assert detail.status_code == 200 and "Phone/1.0" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    # The same id at another instant is another key: not this event.
    elsewhere = reverse("admin:analytics_eventrecord_change", args=[quote(f"{viewed.id},{scanned.created_at}")])
    assert staff_client.get(elsewhere).status_code == 302
    for malformed in (str(viewed.id), f"{viewed.id},yesterday", "x,y"):
        assert staff_client.get(reverse("admin:analytics_eventrecord_change", args=[quote(malformed)])).status_code == 302
    assert staff_client.get(reverse("admin:analytics_eventrecord_add")).status_code == 403
    assert staff_client.post(link, {"event_type": "forged"}).status_code == 403
    assert staff_client.get(link.replace("/change/", "/delete/")).status_code == 403

    staff_client.force_login(tenant_a.admin)  # a client's admin is not staff
    for url in (EVENTS, link):
        refused = staff_client.get(url)
        assert refused.status_code == 302 and reverse("admin:login") in refused["Location"]


def test_the_event_list_never_counts_the_table(staff_client, events, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events")
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(EVENTS, {"_facets": "True"})  # counts per filter choice are never offered
    cl = response.context["cl"]
    assert isinstance(cl.paginator, EstimatedCountPaginator) and cl.result_count == 3
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert not any('"events"' in sql for sql in counts), counts

    # Filtered, it counts, but at most COUNT_LIMIT rows.
    campaign = events[0]
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(EVENTS, {"campaign": campaign.pk}).context["cl"].result_count == 2
    (count,) = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert f"LIMIT {EstimatedCountPaginator.COUNT_LIMIT}" in count

    # Past the limit, the planner's estimate of the filtered list (exact here: one partition, just analysed).
    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_LIMIT", 1)
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(EVENTS, {"month": "2026-12"}).context["cl"].result_count == 2
    assert any(query["sql"].startswith("EXPLAIN") for query in queries)


@pytest.fixture
def one_of_each(campaign, tenant_a):
    """A row in each of the other read-only tables."""
    RecipientStage.objects.create(recipient_id=11, stage="visited", campaign_id=campaign.pk,
                                  first_at=datetime(2026, 11, 5, tzinfo=UTC))
    # A key with a comma: the composite key in the URL is split on the first one only.
    EventIngestKey.objects.create(client_id=tenant_a.client.pk, key="batch-1,event-9")
    PendingRollup.objects.create(created_at=[datetime(2026, 11, 5, tzinfo=UTC)], campaign_id=[campaign.pk],
                                 recipient_id=[None], event_type=["purl_viewed"])
    CampaignDailyFunnel.objects.create(campaign=campaign, day="2026-11-05", stage="visited", recipients=4)
    session = CallSession.objects.create(provider_call_id="CA-admin-1", tracking_number=tracking_number_for(campaign),
                                         campaign=campaign, caller_phone="+16175550134")
    RecordingArchive.objects.create(session=session, source_name="recordings/CA-admin-1.mp3",
                                    archive_name="CA-admin-1.mp3", size_bytes=1234, md5="0" * 32,
                                    storage_class="GLACIER")


@pytest.mark.parametrize("app, model, shown", [
    ("analytics", "recipientstagerecord", "Visited"),
    ("analytics", "eventingestkeyrecord", "batch-1,event-9"),
    ("analytics", "pendingrollup", "purl_viewed"),
    ("analytics", "campaigndailyfunnel", "Spring mailing"),
    ("calltracking", "recordingarchive", "CA-admin-1.mp3"),
])
def test_staff_browse_the_other_tables_read_only(staff_client, client, tenant_a, one_of_each, app, model, shown):
    changelist = reverse(f"admin:{app}_{model}_changelist")
    page = staff_client.get(changelist).content.decode()
    (link,) = re.findall(rf'href="(/admin/{app}/{model}/[^"?]+/change/)', page)
    detail = staff_client.get(link)
    assert detail.status_code == 200 and shown in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert staff_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
    assert staff_client.get(link.replace("/change/", "/delete/")).status_code == 403

    client.force_login(tenant_a.admin)  # a client's user is not staff
    refused = client.get(changelist)
    assert refused.status_code == 302 and reverse("admin:login") in refused["Location"]


def test_rollup_changelist_links_to_the_events_and_rebuilds(staff_client, campaign):
    record_event(event_type="purl_viewed", source="purl", campaign=campaign)
    url = reverse("admin:analytics_campaigndailystat_changelist")
    page = staff_client.get(url)
    assert page.status_code == 200 and f'href="{EVENTS}">Browse raw events' in page.content.decode()
    stat = campaign.daily_stats.get()
    response = staff_client.post(url, {"action": "rebuild_selected_campaigns", "_selected_action": [stat.pk]}, follow=True)
    assert "Rebuilt the rollups of 1 campaign" in response.content.decode()
    assert campaign.daily_stats.get().events == 1

