"""Faults on the money path, each with real processes: a Redis the test starts itself and stops or loses, and
Celery workers it kills with SIGKILL in the middle of a send.

What must hold: a committed claim is never answered with an error, no card is sent twice, and no card is left
waiting for ever (it is sent, or it waits for staff in plain sight)."""

import threading

import psycopg
import pytest
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from campaigns.models import Recipient
from giftcards.choices import DeliveryStatus, GiftCardStatus
from giftcards.models import GiftCard
from giftcards.selectors import undelivered_minutes
from giftcards.services import redeem, settle_unconfirmed_delivery
from giftcards.tasks import DELIVERIES_SCHEDULED_KEY
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock
from giftcards.tests.sms import SMS_DELAY_VARIABLE, SMS_LOG_VARIABLE, sms_sent, texting_environment
from mobul.tests.processes import (  # noqa: F401  (redis_server: the fixture)
    Worker,
    database_url,
    redis_server,
    run_in_app_process,
    send_task,
    wait_for,
    wait_until_consuming,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The sweeper's thresholds in the workers these tests start: overdue after a second.
FAST_SWEEPER = {"GIFT_CARD_DELIVERY_REQUEUE_SECONDS": "1", "GIFT_CARD_DELIVERY_SEND_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def sms_log(tmp_path):
    return tmp_path / "sms.log"


def texting_campaign(client, cards):
    """An active campaign with `cards` cards and as many recipients, each with a phone and no email."""
    pool = GiftCardPoolFactory(client=client)
    stock(pool, cards)
    campaign, people = active_campaign(client, pool, recipients=cards)
    for n, person in enumerate(people):
        Recipient.objects.filter(pk=person.pk).update(email="", phone=f"+1617555{n:04d}")
    return pool, list(Recipient.objects.filter(campaign=campaign).order_by("pk"))


def claim_without_dispatch(people):
    """Claims every card with the dispatch wake-up held back, as if a dispatch run were already queued."""
    cache.set(DELIVERIES_SCHEDULED_KEY, 1)
    for person in people:
        redeem(token=person.redemption_token)


def statuses(pool):
    return sorted(GiftCard.objects.filter(pool=pool, recipient__isnull=False).values_list("delivery_status", flat=True))


def waiting_for_a_row_lock():
    with psycopg.connect(database_url(), autocommit=True) as observer:
        return observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0] > 0


def test_a_claim_in_flight_when_redis_dies_answers_with_its_card_and_is_delivered_once_redis_is_back(
        tenant_a, redis_server, sms_log, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_server.url(0)}}
    pool, (person,) = texting_campaign(tenant_a.client, 1)
    answer = {}

    def redeem_over_the_api():
        try:
            answer["response"] = APIClient(raise_request_exception=False).post(
                "/api/v1/redeem/", {"token": person.redemption_token}, format="json")
        finally:
            connections.close_all()

    # With the recipient's row locked elsewhere, the redemption passes the rate limit (Redis is up) and then
    # waits inside its transaction: Redis dies while it waits, before it commits.
    with psycopg.connect(database_url()) as blocker:
        blocker.execute("SELECT 1 FROM recipients WHERE id = %s FOR UPDATE", [person.pk])
        request = threading.Thread(target=redeem_over_the_api)
        request.start()
        wait_for(waiting_for_a_row_lock, "the redemption did not reach the recipient's lock")
        redis_server.stop()
        blocker.rollback()
    request.join(timeout=60)

    response = answer["response"]
    assert response.status_code == 201, response.content
    card = GiftCard.objects.get(pool=pool, recipient=person)
    assert (response.json()["last4"], card.status) == (card.last4, GiftCardStatus.CLAIMED)
    assert card.delivery_status == DeliveryStatus.PENDING  # its delivery wake-up was lost with Redis

    redis_server.start()
    worker = Worker(texting_environment(redis_server, **{SMS_LOG_VARIABLE: str(sms_log)}))
    try:
        wait_until_consuming(redis_server)
        send_task(redis_server, "giftcards.tasks.dispatch_deliveries")  # beat's minutely run
        wait_for(lambda: statuses(pool) == [DeliveryStatus.SENT], "the card was not delivered")
    finally:
        worker.stop()
    assert sms_sent(sms_log) == [person.phone]


def test_a_worker_killed_during_a_send_sends_no_card_twice_and_strands_none(tenant_a, redis_server, sms_log):
    pool, people = texting_campaign(tenant_a.client, 6)
    claim_without_dispatch(people)
    log = {SMS_LOG_VARIABLE: str(sms_log)}

    # The provider takes each SMS and then takes 30 s to answer: the worker is killed while it waits.
    first = Worker(texting_environment(redis_server, **log, **{SMS_DELAY_VARIABLE: "30"}))
    try:
        wait_until_consuming(redis_server)
        send_task(redis_server, "giftcards.tasks.dispatch_deliveries")
        wait_for(lambda: len(sms_sent(sms_log)) == 1 and DeliveryStatus.SENDING in statuses(pool),
                 "the first send did not start")
    finally:
        first.kill()
    assert statuses(pool).count(DeliveryStatus.SENDING) == 1
    # The killed worker's unacked messages come back only after the broker's visibility timeout (an hour); the
    # sweeper hands their cards out again, and flags the send that was cut short.
    restarted = Worker(texting_environment(redis_server, **log, **FAST_SWEEPER))
    try:
        send_task(redis_server, "giftcards.tasks.sweep_deliveries")  # beat's minutely run
        wait_for(lambda: statuses(pool) == sorted([DeliveryStatus.SENT] * 5 + [DeliveryStatus.UNCONFIRMED]),
                 "the sweeper did not settle the killed worker's cards")
    finally:
        restarted.stop()

    assert sorted(sms_sent(sms_log)) == sorted(person.phone for person in people)  # each card sent exactly once
    unconfirmed = GiftCard.objects.get(pool=pool, delivery_status=DeliveryStatus.UNCONFIRMED)
    assert unconfirmed.recipient.phone == sms_sent(sms_log)[0]  # the send that was cut short
    assert undelivered_minutes() > 0  # what the outbox alert watches: staff see it
    settle_unconfirmed_delivery(card=unconfirmed, arrived=True, reason="the provider's log shows it delivered")
    assert statuses(pool) == [DeliveryStatus.SENT] * 6
    assert undelivered_minutes() == 0


def test_delivery_messages_lost_with_a_non_persistent_broker_are_sent_by_the_sweeper(tenant_a, redis_server,
                                                                                     sms_log):
    pool, people = texting_campaign(tenant_a.client, 4)
    claim_without_dispatch(people)
    environment = texting_environment(redis_server, **{SMS_LOG_VARIABLE: str(sms_log)}, **FAST_SWEEPER)
    # A dispatch run hands every card to a delivery task, then the broker restarts before any worker took one.
    run_in_app_process(environment, "from giftcards.services import dispatch_pending_deliveries\n"
                                    "dispatch_pending_deliveries()")
    assert statuses(pool) == [DeliveryStatus.QUEUED] * 4
    redis_server.stop()
    redis_server.start()

    worker = Worker(environment)
    try:
        wait_until_consuming(redis_server)
        assert statuses(pool) == [DeliveryStatus.QUEUED] * 4  # their messages are gone
        send_task(redis_server, "giftcards.tasks.sweep_deliveries")
        wait_for(lambda: statuses(pool) == [DeliveryStatus.SENT] * 4, "the lost cards were not sent")
    finally:
        worker.stop()
    assert sorted(sms_sent(sms_log)) == sorted(person.phone for person in people)
