"""Redemptions over the public API, delivered by a real Celery worker process through the outbox: the claims'
commits queue one coalesced dispatch run, which hands every card to a delivery task."""

import time

import pytest
from rest_framework.test import APIClient

from campaigns.tests.test_import_worker import worker  # noqa: F401  (the fixture: a real worker process)
from giftcards.choices import DeliveryStatus
from giftcards.models import GiftCard, GiftCardLog
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

CLAIMS = 20


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_every_claimed_card_once(worker, tenant_a, settings):  # noqa: F811
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "100000/m"}
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, CLAIMS)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=CLAIMS)
    client = APIClient()
    for person in people:
        response = client.post("/api/v1/redeem/", {"token": person.redemption_token}, format="json")
        assert response.status_code == 201, response.content

    claimed = GiftCard.objects.filter(pool=pool, recipient__isnull=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and claimed.exclude(delivery_status=DeliveryStatus.SENT).exists():
        time.sleep(0.1)
    assert worker.poll() is None, worker.stderr.read().decode()
    assert set(claimed.values_list("delivery_status", "delivery_attempts")) == {(DeliveryStatus.SENT, 1)}
    assert GiftCardLog.objects.filter(card__pool=pool, action="delivered").count() == CLAIMS
