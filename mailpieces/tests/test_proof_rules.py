"""The lifecycle rules proofs bring: proofing needs a current ready proof, approving one with no finding (and
records who approved which version); a change to the template or the mailing list makes the proof stale and
sends a proofed or approved campaign back to draft, audited with its reason."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import AuditLog
from analytics.models import Event
from campaigns.choices import CampaignStatus
from campaigns.exceptions import CampaignLocked, TransitionRuleViolation
from campaigns.models import Campaign
from campaigns.services import (
    create_recipient,
    delete_recipient,
    transition_campaign,
    update_campaign,
    update_template,
)
from campaigns.tests.factories import MailTemplateFactory, csv_bytes, person
from mailpieces import proofs
from mailpieces.choices import FindingKind, ProofStatus
from mailpieces.models import Proof
from mailpieces.tests.factories import add_recipient, campaign_with, ready_proof

pytestmark = pytest.mark.django_db

FINDINGS = [
    {"position": 1, "recipient_id": 1, "side": "front", "kind": FindingKind.QR_MISSING,
     "message": "No QR code on the piece decodes to this recipient's page."},
    {"position": 2, "recipient_id": 2, "side": "back", "kind": FindingKind.ADDRESS_OVERFLOW,
     "message": "The address does not fit its block."},
]


@pytest.fixture
def campaign(tenant_a):
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    campaign.refresh_from_db()
    return campaign


def _proofed(campaign, status=CampaignStatus.PROOFED):
    ready_proof(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def _returned_to_draft(campaign, reason_part):
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    audit = AuditLog.objects.filter(action=AuditAction.TRANSITION, object_id=str(campaign.pk)).latest("pk")
    assert audit.changes["status"][1] == CampaignStatus.DRAFT and reason_part in audit.changes["reason"]
    event = Event.objects.filter(campaign_id=campaign.pk, event_type="campaign_status_changed").latest("created_at")
    assert event.payload["to"] == CampaignStatus.DRAFT and reason_part in event.payload["reason"]
    return audit


# --- Mark proofed ---------------------------------------------------------------------------

def test_mark_proofed_is_refused_without_a_ready_proof(campaign):
    with pytest.raises(TransitionRuleViolation, match="Generate a proof") as refused:
        transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)
    assert refused.value.status == 409 and refused.value.field == "proof"
    Proof.objects.create(campaign=campaign, version=1, fingerprint=proofs.fingerprint(campaign))  # still pending
    Proof.objects.create(campaign=campaign, version=2, status=ProofStatus.FAILED,
                         fingerprint=proofs.fingerprint(campaign))
    with pytest.raises(TransitionRuleViolation, match="no ready proof"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)


def test_mark_proofed_is_refused_with_a_stale_proof_and_accepted_with_a_current_one(campaign):
    ready_proof(campaign)
    add_recipient(campaign, 2)  # the list changed after the proof
    with pytest.raises(TransitionRuleViolation, match="Proof v1 is stale"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)
    ready_proof(campaign)
    moved = transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)
    assert moved.status == CampaignStatus.PROOFED
    audit = AuditLog.objects.get(action=AuditAction.TRANSITION, object_id=str(campaign.pk))
    assert audit.changes == {"status": ["draft", "proofed"], "proof_version": 2}


def test_a_proof_made_before_a_template_edit_is_stale(campaign):
    proof = ready_proof(campaign)
    update_template(template=campaign.template, front_html=campaign.template.front_html + "<p>P.S.</p>")
    campaign.refresh_from_db()
    assert not proofs.is_current(proof, campaign)
    with pytest.raises(TransitionRuleViolation, match="stale"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)


# --- Approve proof --------------------------------------------------------------------------

def test_approval_is_refused_while_the_proof_has_findings_and_names_them(api_client, tenant_a, campaign):
    _proofed(campaign)
    ready_proof(campaign, findings=FINDINGS)
    api_client.force_login(tenant_a.member)
    response = api_client.post(f"/api/v1/campaigns/{campaign.pk}/transition/", {"to": "approved"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_rule" and error["field"] == "proof"
    assert "Proof v2 has 2 preflight findings" in error["message"]
    assert "piece 1, front: No QR code on the piece decodes" in error["message"]
    assert "piece 2, back: The address does not fit" in error["message"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PROOFED


def test_approval_of_a_clean_proof_records_who_approved_which_version(api_client, tenant_a, campaign):
    _proofed(campaign)
    ready_proof(campaign, findings=FINDINGS)
    ready_proof(campaign)  # v3: the findings fixed
    api_client.force_login(tenant_a.member)
    response = api_client.post(f"/api/v1/campaigns/{campaign.pk}/transition/", {"to": "approved"})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    audit = AuditLog.objects.get(action=AuditAction.TRANSITION, object_id=str(campaign.pk))
    assert audit.actor == tenant_a.member
    assert audit.changes == {"status": ["proofed", "approved"], "proof_version": 3}


def test_approval_is_refused_when_the_proof_went_stale_after_proofing(campaign):
    _proofed(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(list_version=campaign.list_version + 1)
    with pytest.raises(TransitionRuleViolation, match="stale"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.APPROVED)


# --- Changes to what was proofed ------------------------------------------------------------

@pytest.mark.parametrize("status", [CampaignStatus.PROOFED, CampaignStatus.APPROVED])
@pytest.mark.parametrize("change", [{"front_html": "<p>New front</p>"}, {"back_html": "<p>New back</p>"},
                                    {"size": "4x6"}])
def test_a_template_change_sends_proofed_and_approved_campaigns_back_to_draft(campaign, status, change):
    _proofed(campaign, status)
    other = campaign_with(campaign.client, name="Unaffected")  # another template: untouched
    add_recipient(other, 2)
    _proofed(other, status)
    update_template(template=campaign.template, **change)
    audit = _returned_to_draft(campaign, f"template “{campaign.template.name}” changed ({next(iter(change))})")
    assert audit.changes["status"] == [status, "draft"]
    other.refresh_from_db()
    assert other.status == status


def test_a_template_rename_changes_no_proof(campaign):
    _proofed(campaign)
    update_template(template=campaign.template, name="Renamed")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PROOFED


@pytest.mark.parametrize("status", [CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION])
def test_a_template_cannot_change_under_a_campaign_on_its_way_to_the_printer(campaign, status):
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    with pytest.raises(CampaignLocked, match="copy the template"):
        update_template(template=campaign.template, front_html="<p>Too late</p>")
    campaign.template.refresh_from_db()
    assert campaign.template.front_html != "<p>Too late</p>"


def test_switching_the_template_sends_a_proofed_campaign_back_to_draft(campaign):
    _proofed(campaign)
    update_campaign(campaign=campaign, template=MailTemplateFactory(client=campaign.client, name="Autumn"))
    _returned_to_draft(campaign, "switched to “Autumn”")


def test_adding_or_deleting_a_recipient_sends_a_proofed_campaign_back_to_draft(campaign):
    _proofed(campaign)
    added = add_recipient(campaign, 2)
    _returned_to_draft(campaign, f"Recipient {added} was added")
    _proofed(campaign)
    delete_recipient(recipient=added)
    _returned_to_draft(campaign, f"Recipient {added} was deleted")
    assert not proofs.is_current(Proof.objects.filter(campaign=campaign).latest("version"), campaign)


def test_an_import_sends_a_proofed_campaign_back_to_draft_in_the_importer_s_name(key_client, tenant_a, campaign):
    _proofed(campaign)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = key_client.post(f"/api/v1/campaigns/{campaign.pk}/recipients/import/", {
            "file": SimpleUploadedFile("more.csv", csv_bytes([person(n) for n in range(1, 4)]), "text/csv")},
            format="multipart")
    assert response.status_code == 202
    audit = _returned_to_draft(campaign, f"Import #{response.json()['id']} added 3 recipient(s)")
    assert audit.api_key == tenant_a.api_key


def test_a_draft_campaign_s_list_change_only_makes_its_proof_stale(campaign):
    proof = ready_proof(campaign)
    create_recipient(campaign=campaign, first_name="Bo", last_name="Ray", address1="2 Elm St", city="Boston",
                     postal_code="02108")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not proofs.is_current(proof, campaign)
    assert not AuditLog.objects.filter(action=AuditAction.TRANSITION, object_id=str(campaign.pk)).exists()


def test_the_approved_campaign_goes_on_when_nothing_proofed_changed(campaign):
    _proofed(campaign, CampaignStatus.APPROVED)
    campaign.mail_date = timezone.localdate() + timedelta(days=5)
    update_campaign(campaign=campaign, mail_date=campaign.mail_date, name="Renamed")
    moved = transition_campaign(campaign=campaign, to_status=CampaignStatus.SCHEDULED)
    assert moved.status == CampaignStatus.SCHEDULED


def test_a_staff_edit_of_what_a_piece_prints_sends_the_campaign_back_to_draft(staff_client, campaign):
    _proofed(campaign, CampaignStatus.APPROVED)
    recipient = campaign.recipients.get()
    url = f"/admin/campaigns/recipient/{recipient.pk}/change/"
    form = {name: getattr(recipient, name) for name in ("first_name", "last_name", "company", "address1", "address2",
                                                        "city", "state", "postal_code", "country", "phone", "email",
                                                        "external_id", "status")}
    form.update(campaign=campaign.pk, custom_fields="{}", gift_card="")
    assert staff_client.post(url, {**form, "external_id": "CRM-1"}).status_code == 302  # not printed
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED
    assert staff_client.post(url, {**form, "address1": "99 Corrected Rd"}).status_code == 302
    _returned_to_draft(campaign, "was edited (address1)")
