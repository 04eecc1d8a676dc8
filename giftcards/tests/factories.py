import factory
from django.db import connection
from django.utils import timezone

from campaigns.choices import CampaignStatus
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from giftcards.crypto import code_hash, encrypt_code, last4
from giftcards.models import GiftCardPool


class GiftCardPoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiftCardPool

    name = factory.Sequence(lambda n: f"Pool {n}")
    brand = "Amazon"
    denomination = "25.00"


def stock(pool, count, prefix=None):
    """Adds `count` available cards to `pool` (codes PREFIX-0001...). Returns the codes."""
    prefix = prefix or f"P{pool.pk}"
    codes = [f"{prefix}-{n:06d}" for n in range(count)]
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO gift_cards (pool_id, code_encrypted, code_hash, last4, status, delivery_status,"
            " delivery_attempts, delivery_error, created_at) VALUES (%s, %s, %s, %s, 'available', 'not_sent', 0, '', %s)",
            [(pool.pk, encrypt_code(code), code_hash(code), last4(code), timezone.now()) for code in codes],
        )
    return codes


def active_campaign(client, pool, recipients=0):
    """An active campaign rewarding from `pool`, with `recipients` people. Returns (campaign, [recipients])."""
    campaign = CampaignFactory(client=client, gift_card_pool=pool)
    people = [
        create_recipient(campaign=campaign, first_name=f"R{n}", last_name="Lee", address1=f"{n} Main St",
                         city="Boston", postal_code="02108", email=f"r{n}@example.com")
        for n in range(recipients)
    ]
    campaign.status = CampaignStatus.ACTIVE
    campaign.save()
    return campaign, people
