"""A call's outcome reported after the month turned is stored with an event of the month it ended in, on a
database installed after midnight; a provider time older than retention keeps is a 400, never a 500."""

from datetime import UTC, datetime

import pytest

from analytics.models import Event
from analytics.tests.test_late_events import partition_of
from calltracking.choices import CallStatus
from calltracking.models import CallSession

from .factories import STATUS, new_call_id, status_params, twilio_post

pytestmark = pytest.mark.django_db

ARRIVAL = datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC)
RANG_AT = datetime(2027, 2, 28, 23, 58, tzinfo=UTC)
ENDED_AT = datetime(2027, 2, 28, 23, 59, 50, tzinfo=UTC)


@pytest.fixture
def ringing(installed_at, number):
    """A call that rang before midnight, on a database migrated thirty seconds into March."""
    installed_at(ARRIVAL)
    return CallSession.objects.create(
        provider_call_id=new_call_id(), tracking_number=number, campaign=number.campaign,
        caller_phone="+16175550134", call_started_at=RANG_AT)


def test_a_call_that_ended_before_midnight_is_completed_after_it(client, ringing):
    response = twilio_post(client, STATUS, status_params(ringing.provider_call_id, "completed", at=ENDED_AT,
                                                         duration=110))

    assert response.status_code == 204
    ringing.refresh_from_db()
    assert (ringing.provider_status, ringing.call_ended_at) == (CallStatus.COMPLETED, ENDED_AT)
    (event,) = Event.objects.filter(event_type="call_completed")
    assert (event.created_at, partition_of(event)) == (ENDED_AT, "events_2027_02")


def test_a_time_older_than_retention_is_a_bad_request(client, ringing):
    response = twilio_post(client, STATUS, status_params(ringing.provider_call_id, "completed",
                                                         at=datetime(2025, 2, 28, 23, 59, tzinfo=UTC)))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_partition"
    ringing.refresh_from_db()
    assert ringing.provider_status == CallStatus.RINGING
