"""An integrator's idempotency keys are dated on the application's clock, the one their retention is judged on.
PostgreSQL's own clock is not it: a test session's clock may be moved (MOBUL_TEST_CLOCK), PostgreSQL's never is."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import EventIngestKey
from ops.tasks import run_retention_job

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
SENT = datetime(2031, 5, 1, 12, tzinfo=UTC)


def test_a_key_kept_a_day_still_catches_the_retry(installed_at, time_machine, key_client, campaign):
    installed_at(SENT)
    batch = json.dumps({"events": [{"campaign": campaign.pk, "event_type": "purl_viewed", "idempotency_key": "k-1"}]})
    assert key_client.post(EVENTS, batch, content_type="application/json").json()["accepted"] == 1
    (key,) = EventIngestKey.objects.all()
    assert SENT <= key.created_at < SENT + timedelta(minutes=1)

    time_machine.move_to(SENT + timedelta(days=1))
    run_retention_job.delay(job="event_ingest_keys")
    retried = key_client.post(EVENTS, batch, content_type="application/json").json()
    assert (retried["accepted"], retried["duplicates"]) == (0, 1)
