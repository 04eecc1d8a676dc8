"""Races with real parallel database connections: money must come out exact."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection

from giftcards.choices import GiftCardStatus
from giftcards.exceptions import PoolExhausted, RedemptionCooldown
from giftcards.models import GiftCard
from giftcards.services import assign_cards, redeem, void_card
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 8


def _in_parallel(calls):
    """Runs each call on its own thread and connection, all released at once. Returns results/exceptions."""
    start = threading.Barrier(min(WORKERS, len(calls)))

    def run(call):
        try:
            if len(calls) <= WORKERS:
                start.wait(timeout=30)
            return call()
        except Exception as error:  # the outcome is what the test inspects
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, calls))


def _assert_one_to_one():
    held = GiftCard.objects.exclude(recipient=None).exclude(status=GiftCardStatus.VOID)
    assert max(Counter(held.values_list("recipient_id", flat=True)).values(), default=1) == 1
    for card in held.select_related("recipient"):
        assert card.recipient.gift_card_id == card.pk


def test_200_redemptions_against_150_cards(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 150)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=200)
    outcomes = _in_parallel([lambda token=p.redemption_token: redeem(token=token) for p in people])
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 150
    assert all(isinstance(error, PoolExhausted) for error in lost) and len(lost) == 50
    assert len({redemption.card.pk for redemption in won}) == 150
    assert GiftCard.objects.filter(status__in=["claimed", "delivered"]).count() == 150
    _assert_one_to_one()


def test_the_same_recipient_racing_gets_one_card(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 20)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    token = people[0].redemption_token
    outcomes = _in_parallel([lambda: redeem(token=token)] * 8)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert len({o.card.pk for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1
    assert GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).count() == 1


def test_cooldown_holds_when_requests_race(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 20)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    token = people[0].redemption_token
    first = redeem(token=token)
    void_card(card=first.card, reason="test")
    outcomes = _in_parallel([lambda: redeem(token=token)] * 8)
    assert all(isinstance(o, RedemptionCooldown) for o in outcomes)
    GiftCard.objects.filter(pk=first.card.pk).update(claimed_at=first.card.claimed_at - timedelta(minutes=6))
    outcomes = _in_parallel([lambda: redeem(token=token)] * 8)
    assert len({o.card.pk for o in outcomes if not isinstance(o, Exception)}) == 1
    assert GiftCard.objects.filter(status__in=["claimed", "delivered"]).count() == 1


def test_two_bulk_assignments_at_once_never_share_a_card(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 300)
    first, _ = active_campaign(tenant_a.client, pool, recipients=200)
    second, _ = active_campaign(tenant_a.client, pool, recipients=200)
    results = _in_parallel([
        lambda: assign_cards(pool=pool, campaign=first, chunk_size=25),
        lambda: assign_cards(pool=pool, campaign=second, chunk_size=25),
    ])
    assert not [r for r in results if isinstance(r, Exception)], [repr(r) for r in results]
    assert sum(result.assigned for result in results) == 300
    assert sum(result.shortfall for result in results) >= 100
    assert GiftCard.objects.filter(recipient__isnull=False).count() == 300
    _assert_one_to_one()


def test_two_assignments_of_one_campaign_at_once(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 500)
    campaign, _ = active_campaign(tenant_a.client, pool, recipients=300)
    results = _in_parallel([lambda: assign_cards(pool=pool, campaign=campaign, chunk_size=20)] * 2)
    assert sum(result.assigned for result in results) == 300
    assert campaign.recipients.filter(gift_card__isnull=True).count() == 0
    _assert_one_to_one()
