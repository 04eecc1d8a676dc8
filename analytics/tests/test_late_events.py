"""Late events: one that happened in the month before the one it arrives in is stored, through every door that
records events (the events API, analytics.record_event, mail scans), on a database installed after the month
turned; one older than the events retention keeps is refused, per item, never with a 500."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from analytics.exceptions import MissingPartition
from analytics.models import Event
from analytics.services import record_event
from campaigns.services import create_recipient

from .test_mail_webhook import SECRET, post, scan

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
# Thirty seconds into March, on a database migrated then; retention (730 days) keeps March 2025 on.
ARRIVAL = datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC)
YESTERDAY = datetime(2027, 2, 28, 23, 59, 10, tzinfo=UTC)
FIRST_KEPT = datetime(2025, 3, 1, tzinfo=UTC)
PAST_RETENTION = datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC)


def partition_of(event):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM events WHERE id = %s", [event.id])
        (name,) = cursor.fetchone()
    return name


@pytest.fixture
def recipient(campaign):
    return create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                            city="Boston", postal_code="02108")


def test_an_integrator_sends_yesterdays_events_after_the_month_turned(installed_at, key_client, campaign,
                                                                      recipient):
    installed_at(ARRIVAL)
    batch = [
        {"campaign": campaign.pk, "recipient": recipient.pk, "event_type": "purl_viewed",
         "occurred_at": YESTERDAY.isoformat(), "idempotency_key": "late-1"},
        {"campaign": campaign.pk, "event_type": "qr_scanned", "source": "qr", "occurred_at": FIRST_KEPT.isoformat()},
    ]
    response = key_client.post(EVENTS, json.dumps({"events": batch}), content_type="application/json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 2, "duplicates": 0, "errors": []}
    stored = Event.objects.filter(campaign=campaign).order_by("created_at")
    assert [(event.created_at, partition_of(event)) for event in stored] == [
        (FIRST_KEPT, "events_2025_03"), (YESTERDAY, "events_2027_02")]


def test_an_event_older_than_retention_is_an_item_error(installed_at, key_client, campaign):
    installed_at(ARRIVAL)
    batch = [{"campaign": campaign.pk, "event_type": "purl_viewed", "occurred_at": moment.isoformat()}
             for moment in (PAST_RETENTION, YESTERDAY)]
    response = key_client.post(EVENTS, json.dumps({"events": batch}), content_type="application/json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert body["errors"] == [{"index": 0, "code": "outside_window", "field": "occurred_at",
                               "message": "occurred_at is older than the events kept (no partition for its month)."}]


def test_record_event_stores_last_months_event_and_refuses_one_past_retention(installed_at, campaign):
    installed_at(ARRIVAL)
    late = record_event(event_type="call_completed", source="call", campaign=campaign, occurred_at=YESTERDAY)
    assert partition_of(late) == "events_2027_02"

    with pytest.raises(MissingPartition) as refused:
        record_event(event_type="call_completed", source="call", campaign=campaign, occurred_at=PAST_RETENTION)
    assert (refused.value.status, refused.value.code, refused.value.month) == (400, "missing_partition", "2025-02")


def test_a_scan_reported_after_the_month_turned_is_stored(installed_at, client, settings, campaign, recipient):
    settings.MAIL_WEBHOOK_SECRET = SECRET
    installed_at(ARRIVAL)
    other = create_recipient(campaign=campaign, first_name="Bo", last_name="Ng", address1="2 Elm St",
                             city="Boston", postal_code="02108")
    response = post(client, "/webhooks/mail/scans/", {"scans": [
        scan(recipient, "late-1", scanned_at=YESTERDAY.isoformat()),
        scan(other, "too-old", scanned_at=PAST_RETENTION.isoformat()),
    ]})

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0, "errors": [{
        "index": 1, "code": "missing_partition",
        "message": "Events of 2025-02 cannot be recorded: that month is past retention or before records began.",
    }]}
    (event,) = Event.objects.filter(campaign=campaign)
    assert (event.recipient_id, event.created_at, partition_of(event)) == (recipient.pk, YESTERDAY, "events_2027_02")
