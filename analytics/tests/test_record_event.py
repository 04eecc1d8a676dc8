import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

import analytics
from analytics.choices import EventSource, EventType
from analytics.exceptions import InvalidEventSource, InvalidEventType, MissingPartition
from analytics.models import Event
from analytics.services import record_event

pytestmark = pytest.mark.django_db


def test_an_event_and_its_rollups_are_one_statement_and_read_back_through_the_orm(campaign):
    with CaptureQueriesContext(connection) as queries:
        event = record_event(event_type=EventType.QR_SCANNED, source=EventSource.QR, campaign=campaign,
                             recipient_id=42, payload={"device": "ios"})

    assert len(queries) == 1
    assert "INSERT INTO events" in queries[0]["sql"] and "campaign_daily_stats" in queries[0]["sql"]
    stored = Event.objects.get(pk=event.pk)
    assert stored.id == event.id > 0
    assert (stored.campaign, stored.recipient_id, stored.event_type, stored.source, stored.payload) == (
        campaign, 42, "qr_scanned", "qr", {"device": "ios"}
    )
    assert list(campaign.events.all()) == [stored]


def test_occurred_at_defaults_to_now_and_payload_to_an_empty_object(campaign):
    before = datetime.now(UTC)
    event = record_event(event_type="mail_sent", source="mail", campaign_id=campaign.pk)

    stored = Event.objects.get(pk=event.pk)
    assert before <= stored.created_at <= datetime.now(UTC)
    assert stored.payload == {}
    assert stored.recipient_id is None


def test_the_package_level_door_records_too(campaign):
    event = analytics.record_event(event_type="call_started", source="call", campaign=campaign)

    assert Event.objects.filter(campaign=campaign, event_type="call_started").get() == event


def test_importing_the_package_does_not_load_models():
    # A fresh interpreter: this one has long since imported the models.
    code = "import sys, analytics; assert 'analytics.models' not in sys.modules; analytics.record_event"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "event_type", ["custom.coupon_printed", "custom.a", "custom.store_42.visit", "custom." + "x" * 50]
)
def test_custom_event_types_are_accepted(campaign, event_type):
    event = record_event(event_type=event_type, source="api", campaign=campaign)

    assert Event.objects.get(pk=event.pk).event_type == event_type


@pytest.mark.parametrize("event_type", [
    "mail_opened", "", None, "custom.", "custom.Coupon", "custom.coupon-printed", "custom." + "x" * 51,
    "coupon_printed", "CUSTOM.coupon", " mail_sent",
])
def test_unknown_event_types_are_rejected_before_the_database(campaign, event_type):
    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidEventType) as raised:
        record_event(event_type=event_type, source="api", campaign=campaign)

    assert raised.value.code == "invalid_event_type"
    assert raised.value.field == "event_type"
    assert len(queries) == 0


def test_unknown_sources_are_rejected(campaign):
    with pytest.raises(InvalidEventSource, match="'email'"):
        record_event(event_type="mail_sent", source="email", campaign=campaign)
    assert not Event.objects.exists()


def test_exactly_one_of_campaign_and_campaign_id(campaign):
    with pytest.raises(TypeError):
        record_event(event_type="mail_sent", source="mail")
    with pytest.raises(TypeError):
        record_event(event_type="mail_sent", source="mail", campaign=campaign, campaign_id=campaign.pk)


def test_a_month_without_a_partition_is_a_clear_error(campaign):
    with pytest.raises(MissingPartition, match=r"2035-07 \(events_2035_07\)") as raised, transaction.atomic():
        record_event(event_type="mail_sent", source="mail", campaign=campaign,
                     occurred_at=datetime(2035, 7, 4, 12, tzinfo=UTC))

    assert raised.value.month == "2035-07"
    assert raised.value.code == "missing_partition"
    assert not Event.objects.exists()


def test_the_partition_month_is_the_utc_month(campaign):
    # 23:30 on 31 January in New York is already February in UTC.
    occurred_at = datetime.fromisoformat("2035-01-31T23:30:00-05:00")

    with pytest.raises(MissingPartition) as raised, transaction.atomic():
        record_event(event_type="mail_sent", source="mail", campaign=campaign, occurred_at=occurred_at)

    assert raised.value.month == "2035-02"


def test_other_integrity_errors_are_not_mistaken_for_a_missing_partition(campaign):
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        record_event(event_type="mail_sent", source="mail", campaign_id=campaign.pk + 1000)

    assert "events_campaign_id_fkey" in str(raised.value)
