from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase

from accounts.models import AuditLog
from analytics.models import Event
from campaigns.choices import CampaignStatus, RecipientStatus
from giftcards.choices import GiftCardStatus
from giftcards.models import GiftCard, GiftCardLog
from giftcards.services import redeem, void_card
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/redeem/"


@pytest.fixture
def setup(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    codes = stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=4)
    return pool, codes, campaign, people


def _redeem(client, token):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(REDEEM, {"token": token})


def test_redeem_gives_the_code_once_and_the_same_card_again(api_client, setup):
    pool, codes, campaign, people = setup
    first = _redeem(api_client, people[0].redemption_token)
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["code"] in codes and body["last4"] == body["code"][-4:]
    assert (body["brand"], body["denomination"], body["already_claimed"]) == ("Amazon", "25.00", False)
    again = _redeem(api_client, people[0].redemption_token)
    assert again.status_code == 200
    assert again.json()["code"] == body["code"] and again.json()["already_claimed"] is True
    card = GiftCard.objects.get(recipient=people[0])
    people[0].refresh_from_db()
    assert people[0].gift_card == card and people[0].status == RecipientStatus.REDEEMED
    assert card.status == GiftCardStatus.DELIVERED  # the eager delivery task ran on commit
    assert [log.action for log in GiftCardLog.objects.filter(card=card).order_by("pk")] == ["claimed", "delivered"]
    assert Event.objects.filter(event_type="gift_card_claimed", recipient_id=people[0].pk).count() == 1
    assert len(mail.outbox) == 1 and body["code"] in mail.outbox[0].body


def test_the_schema_documents_a_first_claim_and_a_repeat(client):
    # Found by the API fuzz test: only 200 was documented, so every first claim (201) broke the contract.
    responses = client.get("/api/v1/schema/", {"format": "json"}).json()["paths"][REDEEM]["post"]["responses"]
    result = {"$ref": "#/components/schemas/RedeemResult"}
    assert responses["201"]["content"]["application/json"]["schema"] == result
    assert responses["200"]["content"]["application/json"]["schema"] == result
    # Public: no 401 or 403, but the limiter's 429 and its fail-closed 503.
    assert set(responses) == {"200", "201", "400", "404", "409", "429", "503"}


def test_an_assigned_card_is_the_one_claimed(api_client, setup):
    pool, codes, campaign, people = setup
    from giftcards.services import assign_cards

    assign_cards(pool=pool, campaign=campaign)
    people[1].refresh_from_db()
    assigned = people[1].gift_card
    assert _redeem(api_client, people[1].redemption_token).json()["last4"] == assigned.last4


@pytest.mark.parametrize(("status", "code"), [(CampaignStatus.PAUSED, 409), (CampaignStatus.COMPLETED, 409)])
def test_closed_campaigns_refuse_redemption(api_client, setup, status, code):
    pool, codes, campaign, people = setup
    campaign.status = status
    campaign.save()
    response = _redeem(api_client, people[0].redemption_token)
    assert response.status_code == code
    assert response.json()["error"]["code"] == "campaign_not_active"


def test_unknown_token_is_404_and_exhausted_pool_409(api_client, setup):
    pool, codes, campaign, people = setup
    assert _redeem(api_client, "x" * 22).status_code == 404
    for person in people[:3]:
        assert _redeem(api_client, person.redemption_token).status_code == 201
    exhausted = _redeem(api_client, people[3].redemption_token)
    assert exhausted.status_code == 409
    # It says what is true for this recipient: other recipients may still hold cards they have not claimed.
    assert exhausted.json()["error"] == {
        "code": "pool_exhausted", "message": "No gift card is left for you to claim.", "field": None}


def test_cooldown_between_two_claims(api_client, setup, settings):
    pool, codes, campaign, people = setup
    first = _redeem(api_client, people[0].redemption_token).json()
    void_card(card=GiftCard.objects.get(recipient=people[0]), reason="lost in the mail")
    blocked = _redeem(api_client, people[0].redemption_token)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "cooldown"
    assert 0 < int(blocked["Retry-After"]) <= 301
    GiftCard.objects.filter(recipient=people[0]).update(claimed_at=GiftCard.objects.get(recipient=people[0]).claimed_at - timedelta(minutes=6))
    later = _redeem(api_client, people[0].redemption_token)
    assert later.status_code == 201 and later.json()["code"] != first["code"]


def test_redemption_is_rate_limited_per_token(api_client, setup, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "3/m"}
    pool, codes, campaign, people = setup
    statuses = [_redeem(api_client, people[0].redemption_token).status_code for _ in range(4)]
    assert statuses == [201, 200, 200, 429]
    limited = _redeem(api_client, people[0].redemption_token)
    assert limited.json()["error"]["code"] == "rate_limited" and 1 <= int(limited["Retry-After"]) <= 60


def test_bad_payload_is_a_400(api_client):
    response = api_client.post(REDEEM, {})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "token"


def test_landing_page_claim_shows_the_code_to_its_recipient_only(client, setup):
    pool, codes, campaign, people = setup
    token = people[0].redemption_token
    page = client.get(f"/r/{token}").content.decode()
    assert "Claim my gift card" in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/r/{token}/claim")
    assert response.status_code == 302
    page = client.get(f"/r/{token}")
    code = redeem(token=token).code
    assert code in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert code not in client.get(f"/r/{people[1].redemption_token}").content.decode()


def test_a_public_redemption_is_audited_without_the_code(api_client, setup):
    pool, codes, campaign, people = setup
    code = _redeem(api_client, people[0].redemption_token).json()["code"]
    audit = AuditLog.objects.get(object_type="giftcards.GiftCard")
    assert code not in str(audit.changes) and audit.ip == "127.0.0.1"
