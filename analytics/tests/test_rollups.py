import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from analytics.models import CampaignDailyFunnel, CampaignDailyStat, RecipientStage
from analytics.rollups import rebuild_rollups
from analytics.services import record_event
from campaigns.services import create_recipient

pytestmark = pytest.mark.django_db
# Two days into a month: the events of these tests reach back into the month before.
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _snapshot():
    stats = sorted(CampaignDailyStat.objects.values_list("campaign_id", "day", "event_type", "events"))
    funnel = sorted(CampaignDailyFunnel.objects.values_list("campaign_id", "day", "stage", "recipients"))
    return stats, funnel


def _recount(campaign_id, start, end):
    """The same figures, straight from the raw events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (created_at AT TIME ZONE 'UTC')::date, event_type, count(*) FROM events"
            " WHERE campaign_id = %s GROUP BY 1, 2 ORDER BY 1, 2", [campaign_id])
        return [row for row in cursor.fetchall() if start <= row[0] <= end]


@pytest.fixture
def people(campaign):
    return [create_recipient(campaign=campaign, first_name=f"P{n}", last_name="Lee", address1=f"{n} Main St",
                             city="Boston", postal_code="02108") for n in range(6)]


def test_rollups_follow_every_event_and_equal_a_recount(installed_at, campaign, people):
    now = installed_at(NOW)
    rng = random.Random(7)
    for _ in range(200):
        record_event(event_type=rng.choice(["purl_viewed", "qr_scanned", "call_started", "mail_delivered"]),
                     source="purl", campaign=campaign, recipient_id=rng.choice(people).pk,
                     occurred_at=now - timedelta(hours=rng.randint(0, 24 * 20)))
    start, end = (now - timedelta(days=21)).date(), now.date()
    rolled = sorted((day, event_type, events) for _, day, event_type, events in _snapshot()[0])
    assert rolled == _recount(campaign.pk, start, end)
    assert sum(row[3] for row in _snapshot()[0]) == 200


def test_funnel_counts_each_recipient_once_per_stage_on_their_first_day(installed_at, campaign, people):
    day1 = installed_at(NOW) - timedelta(days=2)
    ann, bob = people[0], people[1]
    for _ in range(3):
        record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=ann.pk, occurred_at=day1)
    record_event(event_type="qr_scanned", source="qr", campaign=campaign, recipient_id=ann.pk,
                 occurred_at=day1 + timedelta(days=1))
    record_event(event_type="call_started", source="call", campaign=campaign, recipient_id=bob.pk,
                 occurred_at=day1 + timedelta(days=1))
    funnel = {(day, stage): n for _, day, stage, n in _snapshot()[1]}
    assert funnel == {
        (day1.date(), "visited"): 1, (day1.date(), "responded"): 1,
        (day1.date() + timedelta(days=1), "called"): 1, (day1.date() + timedelta(days=1), "responded"): 1,
    }
    assert RecipientStage.objects.filter(recipient_id=ann.pk).count() == 2


def test_rebuild_reproduces_the_incremental_rollups_and_repairs_drift(installed_at, campaign, people):
    now = installed_at(NOW)
    for n, person in enumerate(people):
        record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=person.pk,
                     occurred_at=now - timedelta(days=n))
        record_event(event_type="mail_delivered", source="mail", campaign=campaign, recipient_id=person.pk,
                     occurred_at=now - timedelta(days=n + 1))
    incremental = _snapshot()
    CampaignDailyStat.objects.update(events=999)
    CampaignDailyFunnel.objects.all().delete()
    RecipientStage.objects.all().delete()
    assert rebuild_rollups(start=(now - timedelta(days=30)).date(), end=now.date()) == [campaign.pk]
    assert _snapshot() == incremental


def test_rebuild_of_an_empty_range_changes_nothing(campaign):
    assert rebuild_rollups(start=date(2001, 1, 1), end=date(2001, 1, 31)) == []


def test_rebuild_command(installed_at, campaign, people):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    today = installed_at(NOW).date().isoformat()
    record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=people[0].pk)
    CampaignDailyStat.objects.update(events=5)
    out = StringIO()
    call_command("rollups", "rebuild", "--from", today, "--to", today, stdout=out)
    assert "for 1 campaign(s)" in out.getvalue()
    assert CampaignDailyStat.objects.get().events == 1
    with pytest.raises(CommandError, match="not a date"):
        call_command("rollups", "rebuild", "--from", "yesterday", "--to", today)
