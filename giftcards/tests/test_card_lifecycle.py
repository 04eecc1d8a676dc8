"""The end of a card's life: unclaimed cards expire past their date (and are never handed out after it), and a
card the brand confirms as spent becomes redeemed, through the API or the admin."""

from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog
from analytics.choices import EventType
from analytics.models import Event
from campaigns.models import Recipient
from giftcards.choices import DeliveryStatus, GiftCardStatus
from giftcards.exceptions import PoolExhausted
from giftcards.models import GiftCard, GiftCardLog
from giftcards.selectors import FREE_CARD_SQL, free_cards, reward_outlook
from giftcards.services import assign_cards, assignment_preview, expire_cards, redeem
from giftcards.tasks import expire_gift_cards
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock
from giftcards.tests.test_delivery import settings_beat_entry

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 1, 0, 5, tzinfo=dt_timezone.utc)
CARDS = "/api/v1/gift-cards/"


def _expiring(pool, *expiry_dates):
    """Sets the expiry date of the pool's cards, in pk order. Returns the cards."""
    cards = list(GiftCard.objects.filter(pool=pool).order_by("pk"))
    for card, expires_on in zip(cards, expiry_dates):
        GiftCard.objects.filter(pk=card.pk).update(expires_on=expires_on)
    return cards


def test_unclaimed_cards_past_their_date_expire_and_free_their_recipient(tenant_a, key_client):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 5)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=2)
    yesterday, today = date(2031, 2, 28), date(2031, 3, 1)
    free_old, assigned_old, claimed_old, valid_today, no_date = _expiring(pool, yesterday, yesterday, yesterday, today)
    GiftCard.objects.filter(pk=assigned_old.pk).update(recipient=people[0])
    people[0].gift_card = assigned_old
    people[0].save()
    GiftCard.objects.filter(pk=claimed_old.pk).update(recipient=people[1], status=GiftCardStatus.CLAIMED)
    assert settings_beat_entry("giftcards.tasks.expire_gift_cards")

    assert expire_cards(now=NOW) == 2
    statuses = dict(GiftCard.objects.filter(pool=pool).values_list("pk", "status"))
    assert statuses == {free_old.pk: "expired", assigned_old.pk: "expired", claimed_old.pk: "claimed",
                        valid_today.pk: "available", no_date.pk: "available"}
    people[0].refresh_from_db()
    assert people[0].gift_card_id is None  # free to claim another card
    log = GiftCardLog.objects.get(card=assigned_old, action="expired")
    assert (log.from_status, log.to_status, log.recipient_id, log.created_at) == (
        "available", "expired", people[0].pk, NOW)
    assert expire_cards(now=NOW) == 0
    listed = key_client.get(CARDS, {"pool": pool.pk, "status": "expired"}).json()["results"]
    assert sorted(card["id"] for card in listed) == [free_old.pk, assigned_old.pk]


def test_the_daily_task_expires_cards(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    _expiring(pool, timezone.localdate() - timedelta(days=1))
    assert expire_gift_cards.apply(throw=True).result == 1


def test_a_card_past_its_date_is_never_handed_out(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 4)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    today = timezone.localdate()
    old_free, old_assigned, good, spare = _expiring(pool, today - timedelta(days=1), today - timedelta(days=1), today)
    GiftCard.objects.filter(pk=old_assigned.pk).update(recipient=people[0])
    people[0].gift_card = old_assigned
    people[0].save()

    assert redeem(token=people[1].redemption_token).card.pk == good.pk  # the first free card is past its date
    # The recipient's own card is past its date (the daily run has not reached it): it expires, and they get
    # a card that is still good.
    assert redeem(token=people[0].redemption_token).card.pk == spare.pk
    assert GiftCard.objects.get(pk=old_assigned.pk).status == GiftCardStatus.EXPIRED
    assert GiftCardLog.objects.filter(card=old_assigned, action="expired").count() == 1

    stock(pool, 1, prefix="LATE")
    later_campaign, _ = active_campaign(tenant_a.client, pool, recipients=2)
    preview = assignment_preview(pool=pool, campaign=later_campaign)
    assert (preview.free_cards, preview.cards_to_take) == (1, 1)
    assert assign_cards(pool=pool, campaign=later_campaign).assigned == 1
    assert GiftCard.objects.get(pk=old_free.pk).recipient_id is None


@pytest.fixture
def delivered(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    card = redeem(token=people[0].redemption_token).card
    GiftCard.objects.filter(pk=card.pk).update(status=GiftCardStatus.DELIVERED, delivery_status=DeliveryStatus.SENT,
                                               claimed_at=timezone.now() - timedelta(minutes=2))
    return GiftCard.objects.get(pk=card.pk)


def test_an_integrator_marks_a_spent_card_redeemed(key_client, tenant_a, delivered):
    spent_at = delivered.claimed_at + timedelta(minutes=1)
    response = key_client.post(f"{CARDS}{delivered.pk}/redeemed/", {"redeemed_at": spent_at.isoformat()},
                               format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "redeemed" and body["redeemed_at"].startswith(spent_at.strftime("%Y-%m-%dT%H:%M:%S"))
    card = GiftCard.objects.get(pk=delivered.pk)
    assert (card.status, card.redeemed_at) == (GiftCardStatus.REDEEMED, spent_at)
    log = GiftCardLog.objects.get(card=card, action="redeemed")
    assert (log.from_status, log.to_status, log.api_key_id) == ("delivered", "redeemed", tenant_a.api_key.pk)
    event = Event.objects.get(event_type=EventType.GIFT_CARD_REDEEMED)
    assert (event.payload["card"], event.created_at, event.source) == (card.pk, spent_at, "api")
    assert AuditLog.objects.filter(object_id=str(card.pk), action="transition", changes__status__1="redeemed").exists()

    again = key_client.post(f"{CARDS}{delivered.pk}/redeemed/", {}, format="json")
    assert again.status_code == 200 and again.json()["redeemed_at"] == body["redeemed_at"]
    assert GiftCardLog.objects.filter(card=card, action="redeemed").count() == 1
    assert [c["id"] for c in key_client.get(CARDS, {"status": "redeemed"}).json()["results"]] == [card.pk]


def test_only_a_claimed_or_delivered_card_is_redeemed_and_never_before_its_claim_or_in_the_future(
        key_client, tenant_a, delivered):
    available = GiftCard.objects.filter(pool=delivered.pool, status=GiftCardStatus.AVAILABLE).first()
    refused = key_client.post(f"{CARDS}{available.pk}/redeemed/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "card_not_redeemable"
    for when in (delivered.claimed_at - timedelta(seconds=1), timezone.now() + timedelta(hours=1)):
        bad = key_client.post(f"{CARDS}{delivered.pk}/redeemed/", {"redeemed_at": when.isoformat()}, format="json")
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "redeemed_at"
    assert key_client.post(f"{CARDS}{delivered.pk}/redeemed/", {"redeemed_at": "soon"},
                           format="json").status_code == 400
    assert GiftCard.objects.get(pk=delivered.pk).status == GiftCardStatus.DELIVERED


def test_marking_redeemed_is_for_the_card_s_own_managers(api_client, tenant_a, tenant_b, delivered):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert api_client.post(f"{CARDS}{delivered.pk}/redeemed/", {}, format="json").status_code == 404
    api_client.credentials()
    api_client.force_login(tenant_a.member)
    assert api_client.post(f"{CARDS}{delivered.pk}/redeemed/", {}, format="json").status_code == 403
    assert GiftCard.objects.get(pk=delivered.pk).status == GiftCardStatus.DELIVERED


def test_staff_mark_a_card_redeemed_and_it_leaves_the_outbox(staff_client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    card = redeem(token=people[0].redemption_token).card  # claimed, still in the outbox
    staff_client.post("/admin/giftcards/giftcard/", {"action": "mark_redeemed", "_selected_action": [card.pk]})
    card.refresh_from_db()
    assert (card.status, card.delivery_status) == (GiftCardStatus.REDEEMED, DeliveryStatus.NOT_SENT)
    assert card.redeemed_at is not None
    page = staff_client.get("/admin/giftcards/giftcard/", {"status__exact": "redeemed"}).content.decode()
    assert f"…{card.last4}" in page


def test_the_recipient_s_page_counts_no_card_past_its_date_as_left(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    campaign, (person, holder) = active_campaign(tenant_a.client, pool, recipients=2)
    yesterday = timezone.localdate() - timedelta(days=1)
    free, assigned = _expiring(pool, yesterday, yesterday)
    GiftCard.objects.filter(pk=assigned.pk).update(recipient=holder)
    holder.gift_card = assigned
    holder.save()
    for recipient in (person, holder):
        outlook = reward_outlook(Recipient.objects.select_related("campaign").get(pk=recipient.pk))
        assert (outlook.can_claim, outlook.no_card_left) == (False, True)
    with pytest.raises(PoolExhausted):
        redeem(token=holder.redemption_token)


def test_a_pool_s_stock_counts_no_card_past_its_date_even_before_the_daily_run(tenant_a, key_client, time_machine):
    time_machine.move_to(NOW, tick=False)
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 6)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    yesterday, today = date(2031, 2, 28), date(2031, 3, 1)
    free_old, free_today, free_undated, assigned_old, assigned_today, claimed_old = _expiring(
        pool, yesterday, today, None, yesterday, today, yesterday)
    for card, person in ((assigned_old, people[0]), (assigned_today, people[1]), (claimed_old, people[2])):
        GiftCard.objects.filter(pk=card.pk).update(recipient=person)
    GiftCard.objects.filter(pk=claimed_old.pk).update(status=GiftCardStatus.CLAIMED)

    stock_now = key_client.get(f"/api/v1/gift-card-pools/{pool.pk}/").json()["stock"]
    assert stock_now == {"total": 4, "available": 2, "assigned": 1, "claimed": 1, "void": 0}
    # The stock's free cards are the ones an assignment or a claim would take.
    free = {free_today.pk, free_undated.pk}
    assert set(free_cards(pool, today).values_list("pk", flat=True)) == free
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM gift_cards WHERE pool_id = %(pool)s AND {FREE_CARD_SQL}",
                       {"pool": pool.pk, "today": today})
        assert {card for (card,) in cursor.fetchall()} == free
