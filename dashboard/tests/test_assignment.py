"""Bulk assignment from a pool's page: a preview of what it would take (and from which other campaigns drawing
on the pool), then the assignment only once confirmed; completed and cancelled campaigns get no cards."""

import re

import pytest
from django.test import TestCase
from django.urls import reverse

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from giftcards.choices import GiftCardStatus
from giftcards.models import GiftCard
from giftcards.services import redeem

from .factories import make_active


def text(response):
    return response.content.decode()


def free_cards(pool):
    return GiftCard.objects.filter(pool=pool, status=GiftCardStatus.AVAILABLE, recipient__isnull=True).count()


def campaign_with_people(client, name, count, **fields):
    campaign = CampaignFactory(client=client, name=name, **fields)
    for n in range(count):
        create_recipient(campaign=campaign, first_name=f"P{n}", last_name=name.split()[0], address1=f"{n} Oak St",
                         city="Springfield", state="IL", postal_code="62701")
    return campaign


def preview_figures(page):
    return {name: int(value) for name, value in re.findall(r'data-preview="(\w+)">(\d+)<', page)}


@pytest.fixture
def shared_pool(world_a):
    """World A's pool (20 cards) rewards its live campaign, where one recipient has claimed; a bigger draft
    campaign of 25 people is about to be given cards from the same pool."""
    live = make_active(world_a.campaign)
    with TestCase.captureOnCommitCallbacks(execute=True):
        redeem(token=world_a.recipients[0].redemption_token)
    target = campaign_with_people(world_a.tenant.client, "Spring mailer", 25)
    return world_a.pool, live, target


def test_assigning_shows_what_it_takes_and_assigns_only_once_confirmed(signed_in, world_a, shared_pool):
    pool, live, target = shared_pool
    client = signed_in(world_a.tenant.admin)
    url = reverse("dashboard:pool_assign", args=[pool.pk])

    preview = client.post(url, {"campaign": target.pk})
    page = text(preview)
    assert preview.status_code == 200
    assert preview_figures(page) == {"cards_to_take": 19, "recipients_without_card": 25, "shortfall": 6,
                                     "free_cards": 19}
    warning = re.search(rf'data-sharing-campaign="{live.pk}">(.*?)</p>', page, re.S).group(1)
    assert f"“{live.name}” (active) also draws on this pool" in warning
    assert "no free card would remain for it" in warning
    assert "Assign 19 cards</button>" in page
    assert f"“{target.name}” has no gift-card reward yet: {pool.name} becomes its reward" in page
    assert free_cards(pool) == 19 and not target.recipients.filter(gift_card__isnull=False).exists()

    done = client.post(url, {"campaign": target.pk, "confirmed": "true"}, follow=True)
    assert "19</strong> cards assigned" in text(done) and "6 recipients still without a card" in text(done)
    assert target.recipients.filter(gift_card__isnull=False).count() == 19 and free_cards(pool) == 0
    target.refresh_from_db()
    assert target.gift_card_pool == pool  # so its recipients can claim the cards they were given


def test_a_preview_says_how_many_cards_remain_for_a_campaign_sharing_the_pool(signed_in, world_a):
    live = make_active(world_a.campaign)
    small = campaign_with_people(world_a.tenant.client, "Small mailer", 5)
    page = text(signed_in(world_a.tenant.admin).post(reverse("dashboard:pool_assign", args=[world_a.pool.pk]),
                                                     {"campaign": small.pk}))
    assert preview_figures(page) == {"cards_to_take": 5, "recipients_without_card": 5, "shortfall": 0,
                                     "free_cards": 20}
    warning = re.search(rf'data-sharing-campaign="{live.pk}">(.*?)</p>', page, re.S).group(1)
    assert "15 free cards would remain for it." in " ".join(warning.split())
    assert "would still be without one" not in page


def test_nothing_to_assign_offers_no_confirmation(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    url = reverse("dashboard:pool_assign", args=[world_a.pool.pk])
    client.post(url, {"campaign": world_a.campaign.pk, "confirmed": "true"})
    page = text(client.post(url, {"campaign": world_a.campaign.pk}))
    assert "every recipient of “Campaign a” already has a card" in page
    assert 'name="confirmed"' not in page and "data-sharing-campaign" not in page


@pytest.mark.parametrize("status", [CampaignStatus.COMPLETED, CampaignStatus.CANCELLED])
def test_closed_campaigns_are_not_offered_and_refused_when_posted(signed_in, world_a, status):
    closed = campaign_with_people(world_a.tenant.client, "Old mailer", 2)
    Campaign.objects.filter(pk=closed.pk).update(status=status)
    client = signed_in(world_a.tenant.admin)
    pool_page = text(client.get(reverse("dashboard:pool_detail", args=[world_a.pool.pk])))
    offered = re.findall(r'<option value="(\d+)"', pool_page)
    assert offered == [str(world_a.campaign.pk)]
    for data in ({"campaign": closed.pk}, {"campaign": closed.pk, "confirmed": "true"}):
        response = client.post(reverse("dashboard:pool_assign", args=[world_a.pool.pk]), data)
        assert response.status_code == 400
        assert "The campaign is completed or cancelled" in text(response)
    assert not closed.recipients.filter(gift_card__isnull=False).exists() and free_cards(world_a.pool) == 20


@pytest.mark.parametrize("who", ["member", "agent", "another_tenants_admin"])
def test_only_those_who_manage_gift_cards_of_the_client_see_a_preview(signed_in, world_a, world_b, who):
    user = world_b.tenant.admin if who == "another_tenants_admin" else getattr(world_a.tenant, who)
    response = signed_in(user).post(reverse("dashboard:pool_assign", args=[world_a.pool.pk]),
                                    {"campaign": world_a.campaign.pk})
    assert response.status_code == (404 if user == world_b.tenant.admin else 403)
    assert "Cards it takes" not in text(response)
