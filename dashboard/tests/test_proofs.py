"""The Proof section of the campaign page: generate a proof, see both sides of each sample piece (served only to
the campaign's tenant), its findings and whether it is stale; the next-step buttons say why they are refused;
the status history names who approved which proof."""

import html
import re

import pytest
from django.test import TestCase
from django.urls import reverse

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import create_recipient, transition_campaign
from mailpieces.choices import FindingKind
from mailpieces.models import Proof
from mailpieces.tests.factories import ready_proof

pytestmark = pytest.mark.django_db


def text(response):
    return html.unescape(response.content.decode())


def _detail(client, campaign):
    return text(client.get(reverse("dashboard:campaign_detail", args=[campaign.pk])))


def _disabled(page, status):
    return re.search(rf'value="{status}">\s*<button[^>]*disabled', page) is not None


def test_generating_a_proof_shows_both_sides_of_each_piece(signed_in, world_a):
    client = signed_in(world_a.tenant.member)
    campaign = world_a.campaign
    create_recipient(campaign=campaign, first_name="Wilhelmina", last_name="Featherstonehaugh", address1="9 Elm St",
                     city="Springfield", postal_code="62701")
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("dashboard:proof_generate", args=[campaign.pk]), follow=True)
    assert "Proof v2 is being rendered." in text(response)
    proof = Proof.objects.get(campaign=campaign, version=2)
    page = _detail(client, campaign)
    assert "Proof v2" in page and "Ready" in page and "Stale" not in page
    pieces = list(proof.pieces.order_by("position"))
    assert [piece.reasons for piece in pieces] == [["first", "longest_address"], ["longest_name"]]
    assert "First recipient, Longest address" in page and "Longest name" in page
    for piece in pieces:
        for side in ("front", "back"):
            url = f"{reverse('dashboard:proof_thumbnail', args=[piece.pk])}?side={side}"
            assert f'src="{url}"' in page
            image = client.get(url)
            assert image.status_code == 200 and image["Content-Type"] == "image/png"
    pdf = client.get(reverse("dashboard:proof_pdf", args=[proof.pk]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    status = client.get(reverse("dashboard:proof_status", args=[proof.pk])).json()
    assert (status["status"], status["percent"], status["finished"]) == ("ready", 100, True)


def test_an_agent_sees_the_proof_but_cannot_generate_one(signed_in, world_a):
    client = signed_in(world_a.tenant.agent)
    page = _detail(client, world_a.campaign)
    assert "Generate proof" not in page
    assert client.get(f"{reverse('dashboard:proof_thumbnail', args=[world_a.proof.pieces.get().pk])}"
                      "?side=back").status_code == 200
    assert client.post(reverse("dashboard:proof_generate", args=[world_a.campaign.pk])).status_code == 403
    assert world_a.campaign.proofs.count() == 1


def test_a_stale_proof_is_marked_and_mark_proofed_says_why_it_is_refused(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    campaign = world_a.campaign
    assert not _disabled(_detail(client, campaign), "proofed")
    create_recipient(campaign=campaign, first_name="Late", last_name="Addition", address1="9 Elm St",
                     city="Springfield", postal_code="62701")
    page = _detail(client, campaign)
    assert "Stale" in page and "changed after this proof was made" in page
    assert _disabled(page, "proofed")
    assert "Mark proofed: Proof v1 is stale" in re.sub(r"<[^>]+>", "", page)


def test_approve_says_which_findings_block_it(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    campaign = world_a.campaign
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PROOFED)
    ready_proof(campaign, findings=[{"position": 1, "recipient_id": world_a.recipients[0].pk, "side": "front",
                                     "kind": FindingKind.QR_MISSING, "message": "No QR code decodes here."}])
    page = _detail(client, campaign)
    assert _disabled(page, "approved")
    assert "1 preflight finding to fix before approval." in page
    assert "No QR code decodes here." in page
    assert "Approve proof: Proof v2 has 1 preflight finding" in re.sub(r"<[^>]+>", "", page)


def test_the_status_history_names_who_approved_which_proof(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    campaign = world_a.campaign
    for target in ("proofed", "approved"):
        client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": target})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED
    history = _detail(client, campaign).split('id="history-title"')[1]
    assert re.search(r"Proofed → Approved · proof v1</span>\s*<span class=\"muted\">[^<]*"
                     + re.escape(world_a.tenant.admin.email), history)


def test_a_template_change_shows_in_the_history_with_its_reason(signed_in, world_a):
    client = signed_in(world_a.tenant.admin)
    campaign = world_a.campaign
    transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)
    response = client.post(f"/api/v1/templates/{world_a.template.pk}/", {"front_html": "<p>Changed</p>"},
                           content_type="application/json", REQUEST_METHOD="PATCH")
    assert response.status_code == 200
    history = _detail(client, campaign).split('id="history-title"')[1]
    assert f"Proofed → Draft · Its template “{world_a.template.name}” changed (front_html)." in history
