"""API batches are stored at once and counted into the rollups by a task, exactly once."""

import json
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

import pytest

from analytics.models import CampaignDailyFunnel, CampaignDailyStat, Event, PendingRollup, RecipientStage
from analytics.rollups import APPLY_SCHEDULED_KEY, apply_pending_rollups, campaign_version, rebuild_rollups
from analytics.tasks import apply_rollups
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import create_recipient

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


@pytest.fixture
def person(campaign):
    return create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                            city="Boston", postal_code="02108")


def _batch(campaign, person, size):
    return [{"campaign": campaign.pk, "recipient": person.pk, "event_type": "purl_viewed"} for _ in range(size)]


def _counted(campaign):
    return sum(CampaignDailyStat.objects.filter(campaign=campaign).values_list("events", flat=True))


def test_a_batch_is_readable_at_once_and_counted_after_commit(key_client, campaign, person,
                                                              django_capture_on_commit_callbacks):
    version = campaign_version(campaign.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert key_client.post(EVENTS, {"events": _batch(campaign, person, 3)}).json()["accepted"] == 3
    assert Event.objects.filter(campaign=campaign).count() == 3
    assert _counted(campaign) == 0
    assert [len(row.event_type) for row in PendingRollup.objects.all()] == [3]

    with django_capture_on_commit_callbacks(execute=True):  # the commit: the task runs (eagerly in tests)
        for callback in callbacks:
            callback()
    assert _counted(campaign) == 3
    assert RecipientStage.objects.filter(recipient_id=person.pk).exists()
    assert not PendingRollup.objects.exists()
    assert campaign_version(campaign.pk) > version


def test_a_queued_batch_is_counted_once_however_often_the_job_runs(key_client, campaign, person,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        key_client.post(EVENTS, {"events": _batch(campaign, person, 4)})
        key_client.post(EVENTS, {"events": _batch(campaign, person, 2)})
    assert apply_pending_rollups() == 6
    assert apply_pending_rollups() == 0
    assert _counted(campaign) == 6
    funnel = CampaignDailyFunnel.objects.get(campaign=campaign, stage="visited")
    assert funnel.recipients == 1

    # What the queue counted equals a recount from the raw events.
    counted = sorted(CampaignDailyStat.objects.values_list("campaign_id", "day", "event_type", "events"))
    today = timezone.now().date()
    rebuild_rollups(start=today, end=today)
    assert sorted(CampaignDailyStat.objects.values_list("campaign_id", "day", "event_type", "events")) == counted


def test_the_minutely_job_counts_batches_whose_run_was_lost(key_client, campaign, person,
                                                            django_capture_on_commit_callbacks):
    cache.set(APPLY_SCHEDULED_KEY, 1)  # a run was scheduled but its message never arrived
    with django_capture_on_commit_callbacks(execute=True):
        key_client.post(EVENTS, {"events": _batch(campaign, person, 5)})
    assert _counted(campaign) == 0, "the batch relies on the run already scheduled"

    schedule = settings.CELERY_BEAT_SCHEDULE["analytics.apply_rollups"]
    assert schedule["task"] == apply_rollups.name
    assert apply_rollups.delay().get() == 5
    assert _counted(campaign) == 5
    assert cache.get(APPLY_SCHEDULED_KEY) is None


def test_a_personal_page_view_is_stored_at_once_and_counted_after_commit(client, campaign, person,
                                                                       django_capture_on_commit_callbacks):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.get(f"/r/{person.redemption_token}").status_code == 200
    assert Event.objects.filter(campaign=campaign, event_type="purl_viewed").count() == 1
    assert _counted(campaign) == 0 and PendingRollup.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert _counted(campaign) == 1 and not PendingRollup.objects.exists()
    assert RecipientStage.objects.filter(recipient_id=person.pk, stage="visited").exists()


@pytest.mark.django_db(transaction=True)
def test_batches_queued_across_the_queue_format_change_are_counted_once(campaign, person):
    def migrate(target):
        MigrationExecutor(connection).migrate([("analytics", target)])

    at = timezone.now().replace(microsecond=123456)
    old_format = json.dumps([[at.isoformat(), campaign.pk, person.pk, "purl_viewed"],
                             [at.isoformat(), campaign.pk, None, "custom.coupon_printed"]])
    migrate("0006_rollup_queue")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO event_rollup_queue (events) VALUES (%s)", [old_format])
        migrate("0007_rollup_queue_arrays")
        queued = PendingRollup.objects.get()
        assert (queued.created_at, queued.campaign_id, queued.recipient_id, queued.event_type) == (
            [at, at], [campaign.pk, campaign.pk], [person.pk, None], ["purl_viewed", "custom.coupon_printed"])

        migrate("0006_rollup_queue")  # and back, for a rollback of the release
        with connection.cursor() as cursor:
            cursor.execute("SELECT events FROM event_rollup_queue")
            assert [[datetime.fromisoformat(e[0]), *e[1:]] for e in json.loads(cursor.fetchone()[0])] == [
                [at, campaign.pk, person.pk, "purl_viewed"], [at, campaign.pk, None, "custom.coupon_printed"]]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert apply_pending_rollups() == 2
    assert apply_pending_rollups() == 0
    assert _counted(campaign) == 2
