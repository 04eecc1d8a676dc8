"""A slow endpoint delays neither the request that produced the event nor another client's deliveries: the
request only writes the outbox and queues tasks, each task sends one message, and an endpoint never holds more
than its in-flight cap of worker slots."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connections, transaction

from mobul.celery import app as celery_app
from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookMessage
from webhooks.services import deliver

from .receivers import start_receiver

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_SECONDS = 2
WORKER_SLOTS = 3


@pytest.fixture
def real_broker():
    """Tasks go to the test broker as in production (not run eagerly in the request); emptied after."""
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    celery_app.conf.task_always_eager = False
    try:
        yield broker
    finally:
        celery_app.conf.task_always_eager = django_settings.CELERY_TASK_ALWAYS_EAGER
        broker.delete(*django_settings.CELERY_QUEUE_NAMES)


def in_worker_slot(message_id):
    try:
        return deliver(message_id=message_id)
    finally:
        connections.close_all()


def test_a_slow_endpoint_of_client_a_never_delays_client_b(tenant_a, tenant_b, endpoint_for, real_broker, settings):
    settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT = 2  # of the 3 slots, A may hold 2 at most
    settings.WEBHOOKS_READ_TIMEOUT_SECONDS = SLOW_SECONDS + 3
    slow, fast = start_receiver(delay=SLOW_SECONDS), start_receiver()
    try:
        endpoint_for(tenant_a.client, slow.url, [EventType.PROOF_READY])
        endpoint_for(tenant_b.client, fast.url, [EventType.PROOF_READY])
        started = time.monotonic()
        with transaction.atomic():  # the request that produced A's events
            a_ids = [publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={"n": n})[0]
                     for n in range(6)]
        request_seconds = time.monotonic() - started
        with transaction.atomic():
            b_ids = [publish(client_id=tenant_b.client.pk, event_type=EventType.PROOF_READY, data={"n": n})[0]
                     for n in range(3)]
        assert request_seconds < 0.5 and slow.received == []  # nothing is sent from the request
        assert real_broker.llen("webhooks") == 1  # one dispatch run for the burst, queued on commit

        # Worst case: a task for every message (dispatch queues at most the cap per endpoint), all of A's first.
        with ThreadPoolExecutor(max_workers=WORKER_SLOTS) as slots:
            outcomes = list(slots.map(in_worker_slot, a_ids + b_ids))
        fast.wait_for(3)
        slow_started = slow.received[0].at
        assert all(arrived.at < slow_started + SLOW_SECONDS for arrived in fast.received), "B waited behind A"
        assert slow.max_in_flight == 2 and len(slow.received) == 2  # A's other tasks left their slot at once
        assert [outcome is not None for outcome in outcomes[:6]].count(True) == 2
        assert set(WebhookMessage.objects.filter(pk__in=b_ids).values_list("status", flat=True)) == {
            MessageStatus.DELIVERED}
        # A's held-back messages are still owed: its finished delivery queued the next, the sweeper the rest.
        waiting = WebhookMessage.objects.filter(pk__in=a_ids, status=MessageStatus.PENDING)
        assert waiting.count() == 4 and waiting.filter(queued_at__isnull=False).count() == 2
    finally:
        slow.stop()
        fast.stop()
