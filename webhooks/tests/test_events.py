"""Each event type is published, with its documented payload, when its domain action happens: in the action's
transaction, to the client's subscribed endpoints only."""

import json

import pytest
from django.core.files.base import ContentFile

from calltracking.tests.factories import (
    ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, STATUS, VOICE, new_call_id, status_params, tracking_number_for,
    twilio_post, voice_params,
)
from campaigns import jobs
from campaigns.choices import CampaignStatus, ImportStatus
from campaigns.models import ImportJob
from campaigns.services import transition_campaign
from giftcards.crypto import decrypt_code
from giftcards.services import begin_delivery, record_delivery, redeem
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock
from mailpieces import proofs
from mailpieces.tests.factories import add_recipient, campaign_with
from webhooks.choices import EventType
from webhooks.models import WebhookMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(tenant_a, tenant_b, endpoint_for):
    """Tenant A's endpoint takes every event type; tenant B has one too, which must get none of A's events."""
    endpoint, _ = endpoint_for(tenant_a.client, "http://127.0.0.1:9/a")
    endpoint_for(tenant_b.client, "http://127.0.0.1:9/b")
    return endpoint


def published(event_type):
    messages = list(WebhookMessage.objects.filter(event_type=event_type))
    return [(message.endpoint_id, json.loads(message.body)) for message in messages]


def only_payload(endpoint, event_type):
    ((endpoint_id, body),) = published(event_type)
    assert endpoint_id == endpoint.pk and body["type"] == event_type and body["id"].startswith("evt_")
    return body["data"]


@pytest.fixture
def live(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    return campaign, person


@pytest.mark.parametrize("query, event_type", [("", EventType.RECIPIENT_VISITED),
                                               ("?via=qr", EventType.RECIPIENT_SCANNED)])
def test_a_purl_visit_or_qr_scan(client, subscribed, live, query, event_type):
    campaign, person = live
    assert client.get(f"/r/{person.redemption_token}{query}").status_code == 200
    data = only_payload(subscribed, event_type)
    assert data.pop("at") and data == {"recipient_id": person.pk, "campaign_id": campaign.pk}


def test_a_redemption_claims_a_card_and_its_delivery(subscribed, live):
    campaign, person = live
    card = redeem(token=person.redemption_token).card
    data = only_payload(subscribed, EventType.GIFT_CARD_CLAIMED)
    assert data.pop("claimed_at") and data == {"gift_card_id": card.pk, "pool_id": card.pool_id,
                                                "recipient_id": person.pk, "campaign_id": campaign.pk,
                                                "channel": "web"}
    sending = begin_delivery(card_id=card.pk)
    record_delivery(card_id=card.pk, started_at=sending.delivery_started_at, channels="email")
    data = only_payload(subscribed, EventType.GIFT_CARD_DELIVERED)
    assert data.pop("delivered_at") and data == {"gift_card_id": card.pk, "pool_id": card.pool_id,
                                                  "recipient_id": person.pk, "campaign_id": campaign.pk,
                                                  "channels": "email"}
    bodies = [body for _, body in published(EventType.GIFT_CARD_CLAIMED) + published(EventType.GIFT_CARD_DELIVERED)]
    code = decrypt_code(sending.code_encrypted)
    assert all(code not in json.dumps(body) and card.last4 not in json.dumps(body) for body in bodies)


def test_a_call_that_ends(client, subscribed, live, settings):
    settings.TWILIO_AUTH_TOKEN, settings.TWILIO_ACCOUNT_SID = AUTH_TOKEN, ACCOUNT_SID
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    campaign, _ = live
    number = tracking_number_for(campaign)
    call_id = new_call_id()
    twilio_post(client, VOICE, voice_params(call_id))
    assert not published(EventType.CALL_COMPLETED)  # ringing is not the end
    assert twilio_post(client, STATUS, status_params(call_id, "completed", duration=42)).status_code in (200, 204)
    data = only_payload(subscribed, EventType.CALL_COMPLETED)
    assert data["campaign_id"] == campaign.pk and data["tracking_number_id"] == number.pk
    assert data["status"] == "completed" and data["duration_seconds"] == 42 and data["ended_at"]


def test_an_import_that_finishes(subscribed, live, tenant_a):
    campaign, _ = live
    job = ImportJob.objects.create(client=tenant_a.client, campaign=campaign,
                                   file=ContentFile(b"first_name\nAnn\n", name="people.csv"))
    job = jobs.claim(job.pk)
    jobs.finish(job, status=ImportStatus.COMPLETED, rows_total=1, rows_done=1, rows_imported=1)
    data = only_payload(subscribed, EventType.IMPORT_FINISHED)
    assert data.pop("finished_at") and data == {
        "import_id": job.pk, "kind": "recipients", "status": "completed", "campaign_id": campaign.pk, "pool_id": None,
        "rows_total": 1, "rows_imported": 1, "rows_invalid": 0, "rows_duplicate": 0, "error_message": ""}


def test_a_campaign_status_change(subscribed, tenant_a):
    campaign = campaign_with(tenant_a.client)
    transition_campaign(campaign=campaign, to_status=CampaignStatus.CANCELLED, reason="budget cut")
    data = only_payload(subscribed, EventType.CAMPAIGN_STATUS_CHANGED)
    assert data.pop("changed_at") and data == {"campaign_id": campaign.pk, "from": "draft", "to": "cancelled",
                                                "reason": "budget cut"}


def test_a_proof_that_is_ready(subscribed, tenant_a, django_capture_on_commit_callbacks):
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    with django_capture_on_commit_callbacks(execute=True):
        proof = proofs.start_proof(campaign=campaign)
    data = only_payload(subscribed, EventType.PROOF_READY)
    assert data.pop("finished_at") and data == {"proof_id": proof.pk, "campaign_id": campaign.pk, "version": 1,
                                                 "pieces": 1, "findings": 0}
