import io
import re
import threading
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from PIL import Image

from analytics.models import Event
from calltracking.choices import TrackingNumberStatus
from calltracking.models import TrackingNumber
from calltracking.services import create_tracking_number
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from campaigns.tokens import format_short_code
from giftcards.choices import GiftCardStatus
from giftcards.models import GiftCard
from giftcards.services import assign_cards, redeem, void_card
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipient(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client, name="Spring smile", offer="A free whitening kit",
                               mail_date=timezone.localdate())
    recipient = create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                                 city="Boston", state="MA", postal_code="02108")
    campaign.status = CampaignStatus.ACTIVE
    campaign.save()
    return recipient


def test_landing_page_greets_the_recipient_and_records_a_visit(client, recipient):
    response = client.get(f"/r/{recipient.redemption_token}", headers={"User-Agent": "Phone/1.0"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hello Ann" in page and "A free whitening kit" in page
    assert format_short_code(recipient.short_code) in page
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    event = Event.objects.get()
    assert (event.event_type, event.source, event.recipient_id) == ("purl_viewed", "purl", recipient.pk)
    assert event.payload["user_agent"] == "Phone/1.0"


def test_qr_link_records_a_scan(client, recipient):
    assert client.get(f"/r/{recipient.redemption_token}?via=qr").status_code == 200
    assert Event.objects.get().event_type == "qr_scanned"


@pytest.mark.parametrize("token", ["unknown-token-that-is-long", "x", "../../etc/passwd"])
def test_unknown_token_gets_a_friendly_404(client, recipient, token):
    response = client.get(f"/r/{token}")
    assert response.status_code == 404
    assert "couldn't find this page" in response.content.decode()
    assert not Event.objects.exists()


def test_visits_before_mailing_are_not_counted(client, recipient):
    recipient.campaign.status = CampaignStatus.APPROVED
    recipient.campaign.save()
    response = client.get(f"/r/{recipient.redemption_token}")
    assert "not available yet" in response.content.decode()
    assert not Event.objects.exists()


def test_a_typed_code_leads_to_the_personal_page(client, recipient):
    typed = format_short_code(recipient.short_code).lower().replace("-", " ")
    response = client.post("/r/", {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == f"/r/{recipient.redemption_token}"
    wrong = client.post("/r/", {"code": "AAAAA-AAAAA"})
    assert wrong.status_code == 400
    assert "could not find that code" in wrong.content.decode()


# --- What the page says about the gift card: from the recipient's own state ---------------------------

CLAIM_BUTTON = "Claim my gift card"
NO_CARD_LEFT = "Sorry, no gift card is left for you to claim."
FALSE_CLAIM = "All gift cards of this campaign have been claimed"


@pytest.fixture
def rewarded(tenant_a):
    """A live campaign rewarding from a pool of 10 cards, with 4 recipients, and a draft campaign of 8."""
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 10)
    live, people = active_campaign(tenant_a.client, pool, recipients=4)
    later, others = active_campaign(tenant_a.client, pool, recipients=8)
    Campaign.objects.filter(pk=later.pk).update(status=CampaignStatus.DRAFT)
    later.refresh_from_db()
    return pool, live, people, later


def page_of(client, person):
    return client.get(f"/r/{person.redemption_token}").content.decode()


def test_a_recipient_who_can_claim_sees_the_button_and_one_who_holds_a_card_sees_it(client, rewarded):
    pool, live, people, later = rewarded
    assert CLAIM_BUTTON in page_of(client, people[0]) and NO_CARD_LEFT not in page_of(client, people[0])
    code = redeem(token=people[0].redemption_token).code
    mine = page_of(client, people[0])
    assert code in mine and CLAIM_BUTTON not in mine
    theirs = page_of(client, people[1])
    assert CLAIM_BUTTON in theirs and code not in theirs


def test_a_pool_drained_by_another_campaigns_assignment_is_told_truthfully(client, rewarded):
    """The issue's story: two of the live campaign's recipients claimed, then the rest of the pool went to
    another campaign's recipients. The live campaign's others have no card to get, and are not told that all
    cards were claimed (2 of 10 were)."""
    pool, live, people, later = rewarded
    for person in people[:2]:
        redeem(token=person.redemption_token)
    assign_cards(pool=pool, campaign=later)
    page = page_of(client, people[2])
    assert NO_CARD_LEFT in page and CLAIM_BUTTON not in page and FALSE_CLAIM not in page
    refused = client.post(f"/r/{people[2].redemption_token}/claim")
    assert refused.status_code == 409
    assert NO_CARD_LEFT in refused.content.decode() and CLAIM_BUTTON not in refused.content.decode()
    assert FALSE_CLAIM not in refused.content.decode()
    # A recipient of the other campaign holds an assigned card: theirs to claim, once that campaign is mailed.
    Campaign.objects.filter(pk=later.pk).update(status=CampaignStatus.ACTIVE)
    holder = later.recipients.order_by("pk").first()
    assert CLAIM_BUTTON in page_of(client, holder)
    assert client.post(f"/r/{holder.redemption_token}/claim").status_code == 302
    holder.refresh_from_db()
    assert holder.gift_card.status == GiftCardStatus.CLAIMED and holder.gift_card.pool == pool


def test_a_recipient_holding_an_assigned_card_can_claim_it_with_the_pool_otherwise_empty(client, rewarded):
    pool, live, people, later = rewarded
    assign_cards(pool=pool, campaign=live)
    GiftCard.objects.filter(pool=pool, recipient__isnull=True).update(status=GiftCardStatus.VOID)
    assert CLAIM_BUTTON in page_of(client, people[3])
    assert client.post(f"/r/{people[3].redemption_token}/claim").status_code == 302
    people[3].refresh_from_db()
    assert people[3].gift_card.last4 in page_of(client, people[3])


def test_after_a_voided_card_the_page_says_when_a_new_claim_is_possible(client, rewarded, time_machine):
    pool, live, people, later = rewarded
    claimed_at = timezone.now()
    time_machine.move_to(claimed_at, tick=False)
    redeem(token=people[0].redemption_token)
    void_card(card=GiftCard.objects.get(recipient=people[0]), reason="lost in the mail")
    time_machine.move_to(claimed_at + timedelta(seconds=170))  # 130 s of the 5-minute cooldown left
    page = page_of(client, people[0])
    assert "You can claim a new gift card in 3 minutes." in page and CLAIM_BUTTON not in page
    time_machine.move_to(claimed_at + timedelta(minutes=6))
    assert CLAIM_BUTTON in page_of(client, people[0])


def test_a_rate_limited_claim_keeps_the_button_and_says_why(client, rewarded, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "1/m"}
    pool, live, people, later = rewarded
    assert client.post(f"/r/{people[0].redemption_token}/claim").status_code == 302
    limited = client.post(f"/r/{people[1].redemption_token}/claim")
    page = limited.content.decode()
    assert limited.status_code == 429 and CLAIM_BUTTON in page
    assert 'role="alert"' in page and NO_CARD_LEFT not in page


@pytest.mark.django_db(transaction=True)
def test_cards_held_by_claims_in_flight_ask_to_try_again_not_that_all_were_claimed(client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    live, people = active_campaign(tenant_a.client, pool, recipients=1)
    locked, release = threading.Event(), threading.Event()

    def claim_in_flight():
        # Another claim holds the pool's only free card (on its own connection), and may yet let it go.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM gift_cards WHERE pool_id = %s FOR UPDATE", [pool.pk])
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=claim_in_flight)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        refused = client.post(f"/r/{people[0].redemption_token}/claim")
    finally:
        release.set()
        holder.join()
    page = refused.content.decode()
    assert refused.status_code == 409 and FALSE_CLAIM not in page and NO_CARD_LEFT not in page
    assert "Please try again in a moment." in page and CLAIM_BUTTON in page


# --- Who the page is from, and how to reach them --------------------------------------------------------

def png(colour="#1f4fa8"):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_greeting_and_the_campaign_are_apart_under_the_clients_name(client, recipient):
    page = page_of(client, recipient)
    assert '<p class="greeting">Hello Ann,</p>' in page
    assert re.findall(r"<h1[ >].*?</h1>", page, re.S) == ["<h1>Spring smile</h1>"]
    assert not re.search(r"Hello Ann,\s*Spring smile", page)
    assert '<html lang="en">' in page
    assert f'<p class="client-name">{recipient.campaign.client.name}</p>' in page
    assert "<img" not in page  # no logo uploaded


def test_the_clients_logo_is_served_from_our_origin_and_may_be_cached(client, recipient, tenant_b):
    owner = recipient.campaign.client
    owner.logo.save("acme.png", ContentFile(png()))
    tenant_b.client.logo.save("other.png", ContentFile(png("#ff0000")))
    page = page_of(client, recipient)
    src = re.search(r'<img class="logo" src="([^"]+)" alt="">', page).group(1)
    assert src.startswith(f"/r/{recipient.redemption_token}/logo?v=")
    response = client.get(src)
    assert response.status_code == 200 and b"".join(response.streaming_content) == png()
    assert response["Cache-Control"] == "public, max-age=300"
    assert client.get("/r/unknown-token-that-is-long/logo").status_code == 404

    owner.logo.storage.delete(owner.logo.name)  # a file lost from storage is a 404, not a 500
    assert client.get(f"/r/{recipient.redemption_token}/logo").status_code == 404


def test_staff_upload_the_logo_in_the_admin(staff_client, tenant_a):
    page = staff_client.get(reverse("admin:accounts_client_change", args=[tenant_a.client.pk])).content.decode()
    assert 'enctype="multipart/form-data"' in page and re.search(r'<input type="file" name="logo"[^>]*accept="image/\*"', page)


def test_the_campaigns_tracking_number_is_a_tel_link_formatted_for_people(client, recipient):
    create_tracking_number(client=recipient.campaign.client, campaign=recipient.campaign,
                           phone_number="+16175550134", forward_to="+16175550100")
    page = page_of(client, recipient)
    assert '<a href="tel:+16175550134">(617) 555-0134</a>' in page

    TrackingNumber.objects.update(status=TrackingNumberStatus.RELEASED)
    assert "tel:" not in page_of(client, recipient)
    create_tracking_number(client=recipient.campaign.client, campaign=recipient.campaign,
                           phone_number="+442079460958", forward_to="+16175550100")
    assert '<a href="tel:+442079460958">+44 20 7946 0958</a>' in page_of(client, recipient)  # abroad: international


def test_a_held_code_has_a_copy_button_with_a_live_status(client, rewarded):
    pool, live, people, later = rewarded
    assert "data-copy-from" not in page_of(client, people[0])  # nothing to copy yet
    code = redeem(token=people[0].redemption_token).code
    page = page_of(client, people[0])
    assert f'<strong id="gift-card-code">{code}</strong>' in page
    assert re.search(r'<button type="button" class="copy" data-copy-from="gift-card-code" '
                     r'data-copy-status="copy-status" hidden>Copy code</button>', page)
    assert '<p id="copy-status" class="copy-status" role="status" aria-live="polite"></p>' in page
    assert re.search(r'<script src="/static/mobul/copy\.js" defer></script>', page)
