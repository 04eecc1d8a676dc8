"""The delivery outbox's ways out: overdue queued cards go back to the outbox, sends that never reported back
wait for staff, and the outbox's age is an alert."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from accounts.models import AuditLog
from giftcards.choices import DeliveryStatus, GiftCardStatus
from giftcards.models import GiftCard, GiftCardLog
from giftcards.selectors import undelivered_minutes
from giftcards.exceptions import DeliveryNotResendable
from giftcards.services import (
    _expire, dispatch_pending_deliveries, record_delivery, record_delivery_failure, redeem, settle_unconfirmed_delivery,
    sweep_deliveries, void_card,
)
from giftcards.tasks import deliver_gift_card, sweep_deliveries as sweep_deliveries_task
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock
from giftcards.tests.test_delivery import settings_beat_entry
from ops.alerts import check_alerts
from mobul.celery import app, queue_of
from ops.models import Alert, AlertMetric

pytestmark = pytest.mark.django_db

ADMIN_CARDS = "/admin/giftcards/giftcard/"


@pytest.fixture
def claimed(tenant_a):
    """Three claimed cards in the outbox: their dispatch has not run (no commit hook runs in these tests)."""
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    return [redeem(token=person.redemption_token).card.pk for person in people]


@pytest.fixture
def failing_email(settings):
    """Email through an SMTP server that is not there: every send fails."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1


def queue(card_ids, *, at):
    """What dispatch_deliveries does at `at`, with the tasks' messages lost."""
    GiftCard.objects.filter(pk__in=card_ids).update(delivery_status=DeliveryStatus.QUEUED, queued_at=at)


def test_queued_cards_whose_task_is_overdue_go_back_to_the_outbox_and_are_sent_once(claimed, settings):
    now = timezone.now()
    late, on_time = claimed[:2], claimed[2:]
    queue(late, at=now - timedelta(seconds=settings.GIFT_CARD_DELIVERY_REQUEUE_SECONDS + 1))
    queue(on_time, at=now - timedelta(seconds=settings.GIFT_CARD_DELIVERY_REQUEUE_SECONDS - 5))
    assert settings_beat_entry("giftcards.tasks.sweep_deliveries")

    assert sweep_deliveries_task.apply(throw=True).result == {"requeued": 2, "unconfirmed": 0}
    statuses = dict(GiftCard.objects.filter(pk__in=claimed).values_list("pk", "delivery_status"))
    assert {statuses[pk] for pk in late} == {DeliveryStatus.SENT}
    assert statuses[on_time[0]] == DeliveryStatus.QUEUED  # its task may still come
    assert len(mail.outbox) == 2
    deliver_gift_card.apply(args=[late[0]], throw=True)  # the lost message turns up after all
    assert len(mail.outbox) == 2


def test_a_retry_is_not_overdue_before_it_is_due(claimed, settings, failing_email):
    card_id = claimed[0]
    GiftCard.objects.filter(pk=card_id).update(delivery_status=DeliveryStatus.QUEUED, queued_at=timezone.now())
    for attempt in range(4):  # the fourth retry waits 240 s, past the requeue threshold below
        with pytest.raises(Retry):
            deliver_gift_card.apply(args=[card_id], retries=attempt, throw=True)
    card = GiftCard.objects.get(pk=card_id)
    settings.GIFT_CARD_DELIVERY_REQUEUE_SECONDS = 60
    assert card.queued_at > timezone.now() + timedelta(seconds=200)  # when the retry is due
    assert sweep_deliveries(now=timezone.now() + timedelta(seconds=120)).requeued == 0
    assert sweep_deliveries(now=card.queued_at + timedelta(seconds=61)).requeued == 1


def test_retries_count_the_card_s_attempts_even_when_a_new_task_takes_over(claimed, failing_email):
    card_id = claimed[0]
    GiftCard.objects.filter(pk=card_id).update(delivery_status=DeliveryStatus.QUEUED, delivery_attempts=5)
    deliver_gift_card.apply(args=[card_id], retries=0, throw=True)  # a task handed the card by the sweeper
    card = GiftCard.objects.get(pk=card_id)
    assert (card.delivery_status, card.delivery_attempts) == (DeliveryStatus.FAILED, 6)


def test_a_send_that_never_reported_back_is_flagged_for_staff_and_never_resent_by_a_task(claimed, settings):
    now = timezone.now()
    stuck, running = claimed[:2]
    timeout = timedelta(seconds=settings.GIFT_CARD_DELIVERY_SEND_TIMEOUT_SECONDS)
    GiftCard.objects.filter(pk=stuck).update(delivery_status=DeliveryStatus.SENDING,
                                             delivery_started_at=now - timeout - timedelta(seconds=1))
    GiftCard.objects.filter(pk=running).update(delivery_status=DeliveryStatus.SENDING, delivery_started_at=now)

    for card_id in (stuck, running):
        deliver_gift_card.apply(args=[card_id], throw=True)  # a redelivered message for a send under way
    assert not mail.outbox
    assert sweep_deliveries(now=now).unconfirmed == 1
    card = GiftCard.objects.get(pk=stuck)
    assert (card.status, card.delivery_status) == (GiftCardStatus.CLAIMED, DeliveryStatus.UNCONFIRMED)
    log = GiftCardLog.objects.get(card=card, action="delivery_unconfirmed")
    assert (log.from_status, log.to_status, log.recipient_id) == ("claimed", "claimed", card.recipient_id)
    assert GiftCard.objects.get(pk=running).delivery_status == DeliveryStatus.SENDING
    deliver_gift_card.apply(args=[stuck], throw=True)
    dispatch_pending_deliveries()  # sends the third card, still in the outbox, and nothing else
    assert [message.to for message in mail.outbox] == [[GiftCard.objects.get(pk=claimed[2]).recipient.email]]
    assert GiftCard.objects.get(pk=stuck).delivery_status == DeliveryStatus.UNCONFIRMED


def _unconfirmed(card_id):
    GiftCard.objects.filter(pk=card_id).update(delivery_status=DeliveryStatus.UNCONFIRMED,
                                               delivery_started_at=timezone.now())


def test_staff_settle_an_unconfirmed_send_as_arrived_or_send_it_again(claimed, staff_client, platform_admin):
    arrived, lost = claimed[:2]
    _unconfirmed(arrived)
    _unconfirmed(lost)
    asked = staff_client.post(ADMIN_CARDS, {"action": "delivery_arrived", "_selected_action": [arrived]})
    assert "reason" in asked.content.decode()
    staff_client.post(ADMIN_CARDS, {"action": "delivery_arrived", "_selected_action": [arrived],
                                    "reason": "the provider's log shows it delivered"})
    card = GiftCard.objects.get(pk=arrived)
    assert (card.status, card.delivery_status) == (GiftCardStatus.DELIVERED, DeliveryStatus.SENT)
    assert GiftCardLog.objects.get(card=card, action="delivered").actor == platform_admin
    assert not mail.outbox

    with TestCase.captureOnCommitCallbacks(execute=True):
        staff_client.post(ADMIN_CARDS, {"action": "send_again", "_selected_action": [lost],
                                        "reason": "the recipient never got it"})
    card = GiftCard.objects.get(pk=lost)
    assert (card.status, card.delivery_status) == (GiftCardStatus.DELIVERED, DeliveryStatus.SENT)
    assert GiftCardLog.objects.get(card=card, action="delivery_resent").reason == "the recipient never got it"
    assert [message.to for message in mail.outbox].count([card.recipient.email]) == 1
    assert AuditLog.objects.filter(object_type="giftcards.GiftCard", action="transition",
                                   object_id=str(lost)).exists()

    # Only an unconfirmed send is settled this way.
    response = staff_client.post(ADMIN_CARDS, {"action": "send_again", "_selected_action": [arrived],
                                               "reason": "by mistake"}, follow=True)
    assert "Only a card whose delivery is unconfirmed" in response.content.decode()
    assert GiftCard.objects.get(pk=arrived).delivery_status == DeliveryStatus.SENT


def test_the_outbox_age_alert_opens_for_an_old_undelivered_card_and_resolves_once_it_is_sent(
        claimed, settings, platform_admin, django_capture_on_commit_callbacks):
    platform_admin.is_staff = True
    platform_admin.save()
    threshold = settings.ALERT_THRESHOLDS["delivery_backlog_minutes"]
    old = claimed[0]
    GiftCard.objects.filter(pk=old).update(claimed_at=timezone.now() - timedelta(minutes=threshold + 5))
    _unconfirmed(old)  # waiting for staff counts: it has not reached its recipient
    assert threshold + 5 <= undelivered_minutes() < threshold + 6

    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = check_alerts()["opened"]
    assert alert.metric == AlertMetric.DELIVERY_BACKLOG
    assert "[Mobul alert] Oldest gift card not yet delivered (minutes)" in [message.subject for message in mail.outbox]

    GiftCard.objects.filter(pk=old).update(delivery_status=DeliveryStatus.SENT, status=GiftCardStatus.DELIVERED)
    assert undelivered_minutes() < 1  # the others were claimed just now
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts()["resolved"] == [alert]
    assert not Alert.objects.filter(metric=AlertMetric.DELIVERY_BACKLOG, resolved_at__isnull=True).exists()


def test_a_card_that_reached_its_recipient_by_one_channel_is_delivered_and_not_retried(claimed, failing_email):
    card = GiftCard.objects.select_related("recipient").get(pk=claimed[0])
    card.recipient.phone = "+16175550134"
    card.recipient.save()
    GiftCard.objects.filter(pk=card.pk).update(delivery_status=DeliveryStatus.QUEUED)
    deliver_gift_card.apply(args=[card.pk], throw=True)  # the email fails, the SMS goes through: no Retry
    card.refresh_from_db()
    assert (card.status, card.delivery_status) == (GiftCardStatus.DELIVERED, DeliveryStatus.SENT)
    assert "Email could not be sent" in card.delivery_error
    assert GiftCardLog.objects.get(card=card, action="delivered").reason == "by sms"


def test_a_late_report_of_an_earlier_send_leaves_the_current_send_alone(claimed):
    card_id = claimed[0]
    earlier, current = timezone.now() - timedelta(minutes=20), timezone.now()
    GiftCard.objects.filter(pk=card_id).update(delivery_status=DeliveryStatus.SENDING, delivery_started_at=current)
    # The slow worker of a send staff already had sent again reports back.
    assert record_delivery_failure(card_id=card_id, started_at=earlier, error="refused") is None
    record_delivery(card_id=card_id, started_at=earlier, channels="email")
    card = GiftCard.objects.get(pk=card_id)
    assert (card.status, card.delivery_status, card.delivery_error) == (
        GiftCardStatus.CLAIMED, DeliveryStatus.SENDING, "")
    record_delivery(card_id=card_id, started_at=current, channels="email")
    assert GiftCard.objects.get(pk=card_id).delivery_status == DeliveryStatus.SENT


def test_a_card_voided_during_an_unconfirmed_send_is_not_sent_again_and_never_circles_in_the_outbox(claimed):
    stuck, waiting = claimed[:2]
    _unconfirmed(stuck)
    void_card(card=GiftCard.objects.get(pk=stuck), reason="reported stolen")
    with pytest.raises(DeliveryNotResendable):
        settle_unconfirmed_delivery(card=GiftCard.objects.get(pk=stuck), arrived=False, reason="never arrived")
    assert GiftCard.objects.get(pk=stuck).delivery_status == DeliveryStatus.UNCONFIRMED

    # A card queued before it was voided (an older row, or a race with the dispatch) leaves the outbox when its
    # task comes, instead of being requeued by every sweep.
    GiftCard.objects.filter(pk=waiting).update(status=GiftCardStatus.VOID, delivery_status=DeliveryStatus.QUEUED,
                                               queued_at=timezone.now())
    deliver_gift_card.apply(args=[waiting], throw=True)
    card = GiftCard.objects.get(pk=waiting)
    assert (card.delivery_status, card.queued_at) == (DeliveryStatus.NOT_SENT, None)
    assert sweep_deliveries(now=timezone.now() + timedelta(days=1)).requeued == 0
    assert not mail.outbox


@pytest.fixture
def waiting_delivery_message():
    """One message waiting in the broker's delivery queue (a backlog), removed afterwards."""
    queue_name = queue_of(deliver_gift_card)
    with app.connection_for_write() as broker:
        broker.SimpleQueue(queue_name).put({"waiting": True})
        yield
        broker.default_channel.queue_purge(queue_name)


def test_while_delivery_messages_wait_a_late_task_is_given_until_the_broker_redelivers(
        claimed, settings, waiting_delivery_message):
    settings.GIFT_CARD_DELIVERY_REQUEUE_SECONDS, settings.GIFT_CARD_DELIVERY_REQUEUE_BACKLOGGED_SECONDS = 600, 3600
    now = timezone.now()
    waiting_its_turn, lost = claimed[:2]
    queue([waiting_its_turn], at=now - timedelta(seconds=700))
    queue([lost], at=now - timedelta(seconds=3601))

    assert sweep_deliveries(now=now).requeued == 1
    statuses = dict(GiftCard.objects.filter(pk__in=claimed[:2]).values_list("pk", "delivery_status"))
    assert statuses == {waiting_its_turn: DeliveryStatus.QUEUED, lost: DeliveryStatus.PENDING}


def test_the_expiry_statement_leaves_a_card_that_is_no_longer_available_alone(claimed):
    with connection.cursor() as cursor:
        _expire(cursor, [claimed[0]], timezone.now())
    assert GiftCard.objects.get(pk=claimed[0]).status == GiftCardStatus.CLAIMED
    assert not GiftCardLog.objects.filter(card_id=claimed[0], action="expired").exists()
