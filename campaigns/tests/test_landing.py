import pytest
from django.utils import timezone

from analytics.models import Event
from campaigns.choices import CampaignStatus
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from campaigns.tokens import format_short_code

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
