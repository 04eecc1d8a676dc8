import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.cache import cache
from django.test import TestCase

from giftcards.choices import DeliveryStatus, GiftCardStatus
from giftcards.models import GiftCard, GiftCardLog
from giftcards.services import redeem, void_card
from giftcards.tasks import DELIVERIES_SCHEDULED_KEY, DELIVERY_MAX_RETRIES, deliver_gift_card, dispatch_deliveries
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimant(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client, brand="Target")
    codes = stock(pool, 2)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    return people[0], codes


def test_email_delivery_marks_the_card_delivered(claimant):
    person, codes = claimant
    with TestCase.captureOnCommitCallbacks(execute=True):
        redemption = redeem(token=person.redemption_token)
    card = GiftCard.objects.get(pk=redemption.card.pk)
    assert (card.status, card.delivery_status, card.delivery_attempts) == (
        GiftCardStatus.DELIVERED, DeliveryStatus.SENT, 1)
    assert mail.outbox[0].to == [person.email] and "Target" in mail.outbox[0].subject
    assert redemption.code in mail.outbox[0].body


def test_failed_sends_are_retried_with_backoff_then_recorded(claimant, settings):
    person, codes = claimant
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    card_id = redeem(token=person.redemption_token).card.pk  # delivery not queued: no commit hook runs here
    for attempt in range(DELIVERY_MAX_RETRIES + 1):
        # What a worker does on each retry, run here one attempt at a time.
        retried = False
        try:
            deliver_gift_card.apply(args=[card_id], retries=attempt, throw=True)
        except Retry as retry:
            retried = True
            assert retry.when == min(3600, 30 * 2 ** attempt)
        card = GiftCard.objects.get(pk=card_id)
        assert card.delivery_attempts == attempt + 1
        assert retried == (attempt < DELIVERY_MAX_RETRIES)
        if retried:  # held by its task until the retry, so no dispatch hands it out again
            assert card.delivery_status == DeliveryStatus.QUEUED
    assert card.status == GiftCardStatus.CLAIMED
    assert card.delivery_status == DeliveryStatus.FAILED and "Email could not be sent" in card.delivery_error
    assert GiftCardLog.objects.filter(card=card, action="delivery_failed").count() == 1


def test_a_recipient_without_email_or_phone_is_undeliverable(claimant):
    person, codes = claimant
    person.email = ""
    person.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        redemption = redeem(token=person.redemption_token)
    card = GiftCard.objects.get(pk=redemption.card.pk)
    assert (card.status, card.delivery_status) == (GiftCardStatus.CLAIMED, DeliveryStatus.UNDELIVERABLE)
    assert not mail.outbox


def test_claims_wait_in_the_outbox_while_a_dispatch_is_queued_and_that_run_sends_them_all(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    cache.set(DELIVERIES_SCHEDULED_KEY, 1)  # a dispatch run is already queued: claims publish nothing more
    for person in people:
        with TestCase.captureOnCommitCallbacks(execute=True):
            redeem(token=person.redemption_token)
    assert set(GiftCard.objects.filter(pool=pool, status=GiftCardStatus.CLAIMED)
               .values_list("delivery_status", flat=True)) == {DeliveryStatus.PENDING}
    assert not mail.outbox

    assert dispatch_deliveries.apply(throw=True).result == 3
    assert sorted(message.to[0] for message in mail.outbox) == sorted(person.email for person in people)
    assert set(GiftCard.objects.filter(pool=pool, recipient__isnull=False)
               .values_list("delivery_status", flat=True)) == {DeliveryStatus.SENT}
    assert cache.get(DELIVERIES_SCHEDULED_KEY) is None  # released, so the next claim queues a run


def test_a_claim_whose_dispatch_was_lost_is_sent_by_the_minutely_run(claimant):
    person, codes = claimant
    card_id = redeem(token=person.redemption_token).card.pk  # committed, but its on-commit dispatch never ran
    assert GiftCard.objects.get(pk=card_id).delivery_status == DeliveryStatus.PENDING
    assert settings_beat_entry("giftcards.tasks.dispatch_deliveries")
    dispatch_deliveries.apply(throw=True)
    assert GiftCard.objects.get(pk=card_id).delivery_status == DeliveryStatus.SENT
    assert len(mail.outbox) == 1


def test_a_second_task_for_the_same_card_sends_nothing(claimant):
    person, codes = claimant
    with TestCase.captureOnCommitCallbacks(execute=True):
        card_id = redeem(token=person.redemption_token).card.pk
    assert len(mail.outbox) == 1
    deliver_gift_card.apply(args=[card_id], throw=True)  # a redelivered message, or a dispatch redone
    assert len(mail.outbox) == 1
    assert GiftCard.objects.get(pk=card_id).delivery_attempts == 1


def settings_beat_entry(task):
    from django.conf import settings

    return [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == task]


def test_a_card_voided_before_its_delivery_leaves_the_outbox_and_is_never_sent(claimant):
    person, codes = claimant
    card = redeem(token=person.redemption_token).card  # in the outbox: its dispatch has not run
    void_card(card=card, reason="sent to the wrong person")
    assert GiftCard.objects.get(pk=card.pk).delivery_status == DeliveryStatus.NOT_SENT
    assert dispatch_deliveries.apply(throw=True).result == 0
    assert not mail.outbox
