import pytest

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from giftcards.tests.factories import GiftCardPoolFactory, stock

from .factories import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, tracking_number_for


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL


@pytest.fixture
def make_campaign(tenant_a):
    """make_campaign(phones, client=, status=) -> (campaign, [recipients]), rewarding from a stocked pool."""

    def make(phones=(), *, client=None, status=CampaignStatus.ACTIVE, cards=5):
        client = client or tenant_a.client
        pool = GiftCardPoolFactory(client=client)
        stock(pool, cards)
        campaign = CampaignFactory(client=client, gift_card_pool=pool)
        people = [
            create_recipient(campaign=campaign, first_name=f"Pat{n}", last_name="Lee", address1=f"{n} Main St",
                             city="Boston", state="MA", postal_code="02108", phone=phone, email=f"pat{n}@example.com")
            for n, phone in enumerate(phones)
        ]
        # Straight to the status under test: the lifecycle has its own tests.
        Campaign.objects.filter(pk=campaign.pk).update(status=status)
        campaign.refresh_from_db()
        return campaign, people

    return make


@pytest.fixture
def campaign_and_caller(make_campaign):
    """An active campaign whose one recipient was imported with a national-format phone number."""
    campaign, (caller,) = make_campaign(["(617) 555-0134"])
    return campaign, caller


@pytest.fixture
def number(campaign_and_caller):
    return tracking_number_for(campaign_and_caller[0])
