import logging

import pytest
from django.core import mail
from django.test import TestCase

from accounts.models import AuditLog
from campaigns.choices import CampaignStatus
from campaigns.tests.factories import CampaignFactory
from giftcards.exceptions import CampaignClosed
from giftcards.models import GiftCard, PoolAlert
from giftcards.services import assign_cards, assignment_preview, check_pool_level, redeem
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db

POOLS = "/api/v1/gift-card-pools/"
CARDS = "/api/v1/gift-cards/"


def test_create_a_pool_and_see_its_stock(key_client, tenant_a):
    response = key_client.post(POOLS, {"name": "Spring", "brand": "Target", "denomination": "10.00", "currency": "usd"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["currency"] == "USD" and body["stock"]["total"] == 0 and body["low_stock"] is False
    assert AuditLog.objects.filter(object_type="giftcards.GiftCardPool", action="create").exists()
    bad = key_client.post(POOLS, {"name": "X", "brand": "Y", "denomination": "-1", "currency": "dollars"})
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"denomination", "currency"}


def test_assign_endpoint_reports_assigned_and_shortfall(key_client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=5)
    response = key_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": campaign.pk})
    assert response.json() == {"assigned": 3, "shortfall": 2}
    stock_now = key_client.get(f"{POOLS}{pool.pk}/").json()["stock"]
    assert (stock_now["available"], stock_now["assigned"]) == (0, 3)
    assert key_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": campaign.pk}).json() == {
        "assigned": 0, "shortfall": 2}


@pytest.mark.parametrize("ended", [CampaignStatus.COMPLETED, CampaignStatus.CANCELLED])
def test_assigning_to_a_completed_or_cancelled_campaign_is_a_409_and_takes_no_card(key_client, tenant_a, ended):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=2)
    campaign.status = ended
    campaign.save()
    response = key_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": campaign.pk})
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "campaign_closed"
    assert response.json()["error"]["field"] == "campaign"
    assert not GiftCard.objects.filter(pool=pool, recipient__isnull=False).exists()
    with pytest.raises(CampaignClosed):
        assignment_preview(pool=pool, campaign=campaign)


def test_an_assignment_stops_at_the_chunk_after_its_campaign_completed(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 6)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=6)
    # Completed between the refusal check and the first chunk: the chunk's own read of the status refuses it.
    stale = type(campaign).objects.get(pk=campaign.pk)
    type(campaign).objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    with pytest.raises(CampaignClosed):
        assign_cards(pool=pool, campaign=stale, chunk_size=2)
    assert not GiftCard.objects.filter(pool=pool, recipient__isnull=False).exists()


def test_the_preview_says_what_an_assignment_takes_and_which_live_campaigns_share_the_pool(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 5)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    live, _ = active_campaign(tenant_a.client, pool, recipients=1)
    CampaignFactory(client=tenant_a.client, gift_card_pool=pool, status=CampaignStatus.COMPLETED)
    CampaignFactory(client=tenant_a.client, gift_card_pool=GiftCardPoolFactory(client=tenant_a.client))
    preview = assignment_preview(pool=pool, campaign=campaign)
    assert (preview.free_cards, preview.recipients_without_card, preview.cards_to_take, preview.shortfall) == (
        5, 3, 3, 0)
    assert preview.live_campaigns_sharing_pool == [(live, 2)]
    assert assign_cards(pool=pool, campaign=campaign).assigned == preview.cards_to_take

    bigger, _ = active_campaign(tenant_a.client, pool, recipients=4)
    preview = assignment_preview(pool=pool, campaign=bigger)
    assert (preview.free_cards, preview.cards_to_take, preview.shortfall) == (2, 2, 2)
    assert set(preview.live_campaigns_sharing_pool) == {(campaign, 0), (live, 0)}


def test_cards_assigned_to_a_campaign_without_a_reward_make_that_pool_its_reward_so_they_can_be_claimed(
        key_client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    campaign, people = active_campaign(tenant_a.client, None, recipients=2)
    assert assignment_preview(pool=pool, campaign=campaign).sets_reward_pool

    assert key_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": campaign.pk}).json() == {
        "assigned": 2, "shortfall": 0}
    campaign.refresh_from_db()
    assert campaign.gift_card_pool == pool
    assert AuditLog.objects.filter(object_type="campaigns.Campaign", object_id=str(campaign.pk),
                                   changes__gift_card_pool=[None, pool.pk]).exists()
    assert not assignment_preview(pool=pool, campaign=campaign).sets_reward_pool
    assert {redeem(token=person.redemption_token).card.pk for person in people} == set(
        GiftCard.objects.filter(pool=pool).values_list("pk", flat=True))


def test_cards_list_shows_last4_only_and_is_tenant_scoped(key_client, api_client, tenant_a, tenant_b):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    codes = stock(pool, 3)
    body = key_client.get(CARDS).content.decode()
    assert all(code not in body for code in codes)
    results = key_client.get(CARDS, {"pool": pool.pk}).json()["results"]
    assert sorted(card["last4"] for card in results) == sorted(code[-4:] for code in codes)
    assert "code" not in results[0] and "code_encrypted" not in results[0]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert api_client.get(CARDS).json()["results"] == []
    assert api_client.get(f"{CARDS}{results[0]['id']}/").status_code == 404
    assert api_client.get(f"{POOLS}{pool.pk}/").status_code == 404
    other_campaign, _ = active_campaign(tenant_b.client, GiftCardPoolFactory(client=tenant_b.client))
    assert api_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": other_campaign.pk}).status_code == 404


def test_assigning_to_another_tenants_campaign_is_refused(key_client, tenant_a, tenant_b):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    theirs, _ = active_campaign(tenant_b.client, GiftCardPoolFactory(client=tenant_b.client), recipients=1)
    response = key_client.post(f"{POOLS}{pool.pk}/assign/", {"campaign": theirs.pk})
    assert response.status_code == 400 and response.json()["error"]["field"] == "campaign"


def test_members_cannot_manage_gift_cards(api_client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    api_client.force_login(tenant_a.member)
    assert api_client.get(f"{POOLS}{pool.pk}/").status_code == 200
    assert api_client.patch(f"{POOLS}{pool.pk}/", {"name": "mine"}).status_code == 403


def test_low_stock_alerts_once_per_crossing_and_emails_the_client_admins(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client, low_stock_threshold_percent=50)
    stock(pool, 4)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=4)
    with TestCase.captureOnCommitCallbacks(execute=True):
        for person in people[:3]:
            redeem(token=person.redemption_token)
    alerts = PoolAlert.objects.filter(pool=pool)
    assert alerts.count() == 1 and alerts.get().available == 1
    low_mails = [m for m in mail.outbox if "running low" in m.subject]
    assert len(low_mails) == 1 and low_mails[0].to == [tenant_a.admin.email]
    stock(pool, 10, prefix="MORE")
    check_pool_level(pool_id=pool.pk)
    assert alerts.get().resolved_at is not None
    assert assign_cards(pool=pool, campaign=campaign).assigned == 1


def test_codes_never_reach_the_logs(tenant_a, caplog):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    codes = stock(pool, 1)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    people[0].phone = "+16175550134"
    people[0].save()
    with caplog.at_level(logging.DEBUG), TestCase.captureOnCommitCallbacks(execute=True):
        redeem(token=people[0].redemption_token)
    assert "SMS (console backend" in caplog.text
    assert codes[0] not in caplog.text
