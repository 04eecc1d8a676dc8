from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from analytics.services import record_event

pytestmark = pytest.mark.django_db


def test_event_browser_lists_a_time_range(installed_at, staff_client, campaign):
    # An hour into a month: the older event is of the month before.
    now = installed_at(datetime(2026, 11, 1, 1, tzinfo=UTC))
    record_event(event_type="purl_viewed", source="purl", campaign=campaign, occurred_at=now)
    record_event(event_type="qr_scanned", source="qr", campaign=campaign, occurred_at=now - timedelta(days=2))
    url = reverse("admin:analytics_event_browser")
    assert staff_client.get(url).status_code == 200
    fmt = "%Y-%m-%d %H:%M:%S"
    response = staff_client.get(url, {"since": (now - timedelta(days=1)).strftime(fmt),
                               "until": (now + timedelta(minutes=1)).strftime(fmt), "campaign": campaign.pk})
    assert [event.event_type for event in response.context["events"]] == ["purl_viewed"]
    too_long = staff_client.get(url, {"since": "2026-01-01 00:00", "until": "2026-06-01 00:00"})
    assert too_long.context["events"] is None
    assert "at most 31 days" in too_long.content.decode()


def test_rollup_changelist_and_rebuild_action(staff_client, campaign):
    record_event(event_type="purl_viewed", source="purl", campaign=campaign)
    url = reverse("admin:analytics_campaigndailystat_changelist")
    page = staff_client.get(url)
    assert page.status_code == 200 and "Browse raw events" in page.content.decode()
    stat = campaign.daily_stats.get()
    response = staff_client.post(url, {"action": "rebuild_selected_campaigns", "_selected_action": [stat.pk]}, follow=True)
    assert "Rebuilt the rollups of 1 campaign" in response.content.decode()
    assert campaign.daily_stats.get().events == 1
