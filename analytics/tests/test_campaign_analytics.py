from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.services import record_event
from campaigns.choices import CampaignStatus
from campaigns.services import create_recipient, mark_campaign_mailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailed_campaign(campaign):
    campaign.cost = Decimal("100.00")
    campaign.save()
    people = [create_recipient(campaign=campaign, first_name=f"P{n}", last_name="Lee", address1=f"{n} Main",
                               city="Boston", postal_code="02108") for n in range(10)]
    mark_campaign_mailed(campaign_id=campaign.pk)
    return campaign, people


def _analytics(client, campaign, **params):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.get(f"/api/v1/campaigns/{campaign.pk}/analytics/", params)


def test_funnel_rates_and_cost_per_response(key_client, mailed_campaign):
    campaign, people = mailed_campaign
    with TestCase.captureOnCommitCallbacks(execute=True):
        for person in people[:8]:
            record_event(event_type="mail_delivered", source="mail", campaign=campaign, recipient_id=person.pk)
        for person in people[:4]:
            record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=person.pk)
            record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=person.pk)
        record_event(event_type="qr_scanned", source="qr", campaign=campaign, recipient_id=people[0].pk)
        record_event(event_type="call_started", source="call", campaign=campaign, recipient_id=people[9].pk)
        record_event(event_type="gift_card_claimed", source="api", campaign=campaign, recipient_id=people[0].pk)
    body = _analytics(key_client, campaign).json()
    assert [(s["stage"], s["recipients"]) for s in body["funnel"]] == [
        ("mailed", 10), ("delivered", 8), ("visited", 4), ("called", 1), ("redeemed", 1),
    ]
    assert [s["rate_from_mailed"] for s in body["funnel"]] == [1.0, 0.8, 0.4, 0.1, 0.1]
    assert body["funnel"][2]["rate_from_previous"] == 0.5
    assert body["responses"] == 5 and body["response_rate"] == 0.5
    assert (body["cost"], body["cost_per_response"]) == ("100.00", "20.00")
    today = timezone.now().date().isoformat()
    assert body["daily"]["purl_viewed"] == [{"day": today, "events": 8}]
    assert body["daily"]["mail_sent"] == [{"day": today, "events": 10}]


def test_mailing_is_recorded_once(mailed_campaign):
    campaign, people = mailed_campaign
    assert mark_campaign_mailed(campaign_id=campaign.pk) == 0
    assert set(campaign.recipients.values_list("status", flat=True)) == {"mailed"}


def test_answers_are_cached_until_new_events_arrive(key_client, mailed_campaign):
    campaign, people = mailed_campaign
    _analytics(key_client, campaign)
    with CaptureQueriesContext(connection) as queries:
        _analytics(key_client, campaign)
    assert not [q for q in queries.captured_queries if "campaign_daily" in q["sql"]]
    with TestCase.captureOnCommitCallbacks(execute=True):
        record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=people[0].pk)
    assert _analytics(key_client, campaign).json()["funnel"][2]["recipients"] == 1


def test_transition_to_mailed_records_the_mailing(key_client, campaign):
    create_recipient(campaign=campaign, first_name="A", last_name="B", address1="1 Main", city="X", postal_code="1")
    campaign.status, campaign.mail_date = CampaignStatus.IN_PRODUCTION, timezone.now().date()
    campaign.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert key_client.post(f"/api/v1/campaigns/{campaign.pk}/transition/", {"to": "mailed"}).status_code == 200
    assert _analytics(key_client, campaign).json()["funnel"][0]["recipients"] == 1


@pytest.mark.parametrize("params", [{"from": "2026-13-01"}, {"from": "2026-05-02", "to": "2026-05-01"},
                                    {"from": "2020-01-01", "to": "2026-01-01"}])
def test_bad_ranges_are_a_400(key_client, campaign, params):
    response = key_client.get(f"/api/v1/campaigns/{campaign.pk}/analytics/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_range"


def test_another_tenants_campaign_analytics_are_a_404(api_client, campaign, tenant_b):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert api_client.get(f"/api/v1/campaigns/{campaign.pk}/analytics/").status_code == 404


def test_range_defaults_to_the_last_30_days(key_client, campaign):
    body = key_client.get(f"/api/v1/campaigns/{campaign.pk}/analytics/").json()
    assert body["to"] == timezone.now().date().isoformat()
    assert body["from"] == (timezone.now().date() - timedelta(days=30)).isoformat()
